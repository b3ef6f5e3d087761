"""Where a value sits in a YAML file: the line of the key or item that a validation error's path names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed YAML document, with its node tree kept for line numbers (None: no file, no lines)."""

    data: Any
    root: yaml.Node | None = None

    @classmethod
    def parse(cls, text: str) -> YamlDocument:
        """Parse once, keeping the nodes; raises yaml.YAMLError as yaml.safe_load does."""
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
        return cls(data, root)

    def line(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the key (or list item) at `loc`; of its nearest enclosing one when it is absent."""
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            found = _child(node, part)
            if found is None:
                break
            key, node = found
            line = key.start_mark.line + 1
        return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(the node that names the child, the child): the key node in a mapping, the item itself in a list."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: yaml.Node = node.value[part]
        return item, item
    return None
