"""The declarative base every madoguchi table registers on (bot.store.models): one metadata, so
one schema for the migrations (bot/store/migrations) to create, upgrade and compare."""

from __future__ import annotations

from sqlalchemy.orm import declarative_base

Base = declarative_base()
