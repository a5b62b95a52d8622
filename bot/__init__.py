"""kb's bot: the front doors (`bot.doors`), the answer pipeline (`bot.answer`) and the runtime
ports (`bot.runtime`). Imports point one way: doors → answer → runtime."""
