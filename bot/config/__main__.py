"""`python -m bot.config [--markdown]`: this environment's values (secrets masked), or the reference."""

from bot.config import main

raise SystemExit(main())
