"""The preview page's one stylesheet, inlined into the page: close to Slack's and Teams' light themes.

Only local fonts (no web fonts: the page loads nothing), sizes and colours from each client's defaults
(Slack's message layout; the Adaptive Cards host config Teams uses), so a template author judges line
lengths, emphasis and the order of things as readers will see them.
"""

from __future__ import annotations

STYLESHEET = """
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; background: #eef0f3; color: #1d1c1d;
  font: 14px/1.45 "Segoe UI", "Lato", "Helvetica Neue", Helvetica, Arial, "DejaVu Sans", sans-serif; }
a { color: #1264a3; }
code, pre, .mono { font-family: Menlo, Monaco, Consolas, "DejaVu Sans Mono", monospace; }
.page { max-width: 1440px; margin: 0 auto; padding: 20px 24px 48px; }
.page-header h1 { font-size: 22px; margin: 0 0 4px; }
.page-header p { margin: 2px 0; color: #454245; }
.index { margin: 14px 0 8px; border-collapse: collapse; background: #fff; border-radius: 6px; overflow: hidden;
  box-shadow: 0 1px 2px rgba(0,0,0,.08); font-size: 13px; }
.index td, .index th { padding: 5px 12px; border-bottom: 1px solid #eceef1; text-align: left; vertical-align: top; }
.index th { background: #f6f7f9; font-weight: 600; }
.ignored-note { color: #835b00; }
.page-header code, .routing { overflow-wrap: anywhere; }
.event { background: #fff; border-radius: 8px; margin: 22px 0; padding: 16px 18px 18px;
  box-shadow: 0 1px 3px rgba(0,0,0,.1); }
.event-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.event-head h2 { font-size: 17px; margin: 0; }
.event-type { font-family: Menlo, Monaco, Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; color: #454245; }
.event-where { color: #616061; font-size: 13px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; }
.badge.success { background: #dff6dd; color: #0e700e; }
.badge.info { background: #e8ebfa; color: #3d3f8f; }
.badge.warning { background: #fff4ce; color: #835b00; }
.badge.failure { background: #fde7e9; color: #a4262c; }
.routing { margin: 10px 0 4px; padding: 8px 12px; border-radius: 6px; font-size: 13px; }
.routing.posted { background: #edf7ee; border: 1px solid #c8e6c9; }
.routing.ignored { background: #fff8e6; border: 1px solid #f3d58a; }
.routing ul { margin: 4px 0 0; padding-left: 20px; }
.routing .misses { margin-top: 6px; color: #616061; }
.rendition-head { margin: 14px 0 6px; font-size: 13px; color: #454245; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; align-items: start; }
.platform { border: 1px solid #dddde0; border-radius: 8px; overflow: hidden; min-width: 0; }
.platform-name { font-size: 12px; font-weight: 700; letter-spacing: .04em; text-transform: uppercase;
  padding: 6px 12px; border-bottom: 1px solid #dddde0; display: flex; justify-content: space-between; gap: 8px; }
.platform-name .reach { text-transform: none; letter-spacing: 0; font-weight: 400; color: #454245; }
.slack .platform-name { background: #f8f8f8; color: #4a154b; }
.teams .platform-name { background: #f0f0f7; color: #464775; }
.platform-foot { border-top: 1px solid #eceef1; padding: 6px 12px; font-size: 12px; color: #616061;
  background: #fafafa; overflow-wrap: anywhere; }
details.json { margin-top: 8px; font-size: 12px; }
details.json pre { background: #f6f7f9; border: 1px solid #e1e3e6; border-radius: 4px; padding: 8px;
  max-height: 420px; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.unsupported { color: #a4262c; font-size: 12px; font-style: italic; }

/* Slack */
.slack-pane { background: #fff; padding: 12px 16px 14px; }
.sk-message { display: flex; gap: 8px; font-family: "Lato", "Slack-Lato", "Helvetica Neue", Helvetica, Arial,
  "DejaVu Sans", sans-serif; font-size: 15px; line-height: 1.46668; color: #1d1c1d; }
.sk-avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #1f6fb2; color: #fff;
  font-weight: 900; font-size: 18px; display: flex; align-items: center; justify-content: center; }
.sk-content { flex: 1 1 auto; min-width: 0; }
.sk-meta { display: flex; align-items: baseline; gap: 6px; }
.sk-name { font-weight: 900; }
.sk-app { font-size: 10px; font-weight: 700; background: rgba(29,28,29,.13); color: rgba(29,28,29,.7);
  border-radius: 2px; padding: 0 3px; line-height: 16px; }
.sk-time { font-size: 12px; color: #616061; }
.sk-header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 4px 0; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.sk-section { margin: 4px 0 8px; }
.sk-with-accessory { display: flex; justify-content: space-between; gap: 12px; align-items: flex-start; }
.sk-text { white-space: pre-wrap; overflow-wrap: anywhere; }
.sk-fields { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 8px 16px; margin-top: 6px; }
.sk-field { white-space: pre-wrap; overflow-wrap: anywhere; }
.sk-field.sk-wide { grid-column: 1 / -1; }
.sk-context { display: flex; flex-wrap: wrap; gap: 4px 8px; font-size: 12px; color: #616061; margin: 6px 0 4px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.sk-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }
.sk-button { display: inline-flex; align-items: center; height: 28px; padding: 0 12px; border-radius: 4px;
  border: 1px solid rgba(29,28,29,.3); background: #fff; color: #1d1c1d; font-size: 13px; font-weight: 700;
  text-decoration: none; white-space: nowrap; max-width: 100%; overflow: hidden; text-overflow: ellipsis; }
.sk-button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.sk-button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.sk-code { font-size: 12px; color: #e01e5a; background: rgba(29,28,29,.04); border: 1px solid rgba(29,28,29,.13);
  border-radius: 3px; padding: 1px 3px; }
.sk-pre { font-size: 12px; background: rgba(29,28,29,.04); border: 1px solid rgba(29,28,29,.13); border-radius: 4px;
  padding: 8px; margin: 4px 0; white-space: pre-wrap; }
.sk-mention { background: rgba(29,155,209,.1); color: #1264a3; border-radius: 3px; padding: 0 2px; }
.sk-link { color: #1264a3; text-decoration: none; }
.sk-divider { border: 0; border-top: 1px solid #dddddd; margin: 8px 0; }
.sk-image, .ac-image { display: inline-block; color: #616061; font-size: 12px; border: 1px dashed #bbb;
  border-radius: 4px; padding: 2px 6px; }
.sk-attachment { border-left: 4px solid #dddddd; border-radius: 4px 0 0 4px; padding: 2px 0 2px 12px; margin: 6px 0; }
.sk-att-title { font-weight: 700; }

/* Teams */
.teams-pane { background: #f5f5f5; padding: 12px 16px 14px; }
.tm-message { display: flex; gap: 10px; font-family: "Segoe UI", "Helvetica Neue", Helvetica, Arial,
  "DejaVu Sans", sans-serif; color: #242424; }
.tm-avatar { flex: 0 0 32px; height: 32px; border-radius: 50%; background: #0f6cbd; color: #fff; font-weight: 700;
  display: flex; align-items: center; justify-content: center; font-size: 14px; }
.tm-content { flex: 1 1 auto; min-width: 0; }
.tm-meta { font-size: 12px; color: #616161; margin-bottom: 4px; display: flex; gap: 8px; }
.tm-name { font-weight: 600; color: #424242; }
.ac-card { background: #fff; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.14); padding: 15px;
  font-size: 14px; line-height: 1.4; max-width: 460px; overflow: hidden; overflow-wrap: anywhere; }
.ac-card.ac-full { max-width: none; }
.ac-card > :first-child, .ac-container > :first-child, .ac-column > :first-child { margin-top: 0; }
.ac-sp-default { margin-top: 8px; } .ac-sp-none { margin-top: 0; } .ac-sp-small { margin-top: 3px; }
.ac-sp-medium { margin-top: 20px; } .ac-sp-large { margin-top: 30px; } .ac-sp-extralarge { margin-top: 40px; }
.ac-sp-padding { margin-top: 15px; }
.ac-separator { border-top: 1px solid #e1e1e1; padding-top: 8px; }
.ac-textblock, .ac-richtext { white-space: pre-wrap; }
.ac-nowrap { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ac-size-small { font-size: 12px; } .ac-size-medium { font-size: 17px; } .ac-size-large { font-size: 21px; }
.ac-size-extralarge { font-size: 26px; }
.ac-bolder { font-weight: 700; } .ac-lighter { font-weight: 300; }
.ac-subtle { color: #616161; }
.ac-colour-dark { color: #242424; } .ac-colour-light { color: #ffffff; } .ac-colour-accent { color: #0f6cbd; }
.ac-colour-good { color: #0e700e; } .ac-colour-warning { color: #835b00; } .ac-colour-attention { color: #c50f1f; }
.ac-align-center { text-align: center; } .ac-align-right { text-align: right; }
.ac-italic { font-style: italic; } .ac-strike { text-decoration: line-through; }
.ac-underline { text-decoration: underline; } .ac-mono { font-family: Consolas, "DejaVu Sans Mono", monospace; }
.ac-highlight { background: #fff100; }
.ac-padded { padding: 10px 15px; }
.ac-bleed { margin-left: -15px; margin-right: -15px; }
.ac-card > .ac-bleed:first-child { margin-top: -15px; }
.ac-style-emphasis { background: #f5f5f5; } .ac-style-good { background: #dff6dd; }
.ac-style-attention { background: #fde7e9; } .ac-style-warning { background: #fff4ce; }
.ac-style-accent { background: #ebf3fc; }
.ac-facts { border-collapse: collapse; }
.ac-facts td { padding: 1px 0; vertical-align: top; white-space: pre-wrap; }
.ac-fact-title { font-weight: 700; padding-right: 12px !important; max-width: 180px; }
.ac-columnset { display: flex; gap: 8px; }
.ac-column { min-width: 0; }
.ac-actions, .ac-actionset { display: flex; flex-wrap: wrap; gap: 8px; }
.ac-actions { margin-top: 12px; }
.ac-action { display: inline-flex; align-items: center; justify-content: center; min-height: 32px;
  padding: 4px 12px; border: 1px solid #d1d1d1; border-radius: 4px; background: #fff; color: #242424;
  font-size: 14px; font-weight: 600; text-decoration: none; max-width: 100%; overflow-wrap: anywhere; }
.ac-action.positive { background: #0f6cbd; border-color: #0f6cbd; color: #fff; }
.ac-action.destructive { color: #c50f1f; }
.ac-dead { opacity: .6; }
.ac-link { color: #0f6cbd; }
.ac-mention { color: #0f6cbd; font-weight: 600; }
@media (max-width: 900px) { .pair { grid-template-columns: minmax(0, 1fr); } }
"""
