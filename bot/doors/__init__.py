"""The front doors: the `kb` command line, the HTTP API (with its OpenAI-compatible face) and
Slack (with its rendering and feedback). Each only translates between its protocol and
`bot.answer`'s public entry points (`from bot.answer import KnowledgeBot, QuestionError`).

May import: `bot.answer` (its package-level names only), `bot.runtime`, and other doors.
Nothing outside `bot.doors` imports a door.
"""
