"""Environment and YAML into typed objects, once, at the edge; the operator's words for what is wrong."""
