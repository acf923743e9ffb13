"""Alembic migrations of the madoguchi database (issue 19): env.py, script.py.mako, versions/.

`python -m bot.store.migrations upgrade | current | check | revision -m MSG` (see __main__.py).
"""
