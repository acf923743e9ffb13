"""The declarative base every madoguchi table registers on (bot.store.models, staff.models,
bot.services.notify): one metadata, so one schema to create, upgrade and compare."""

from __future__ import annotations

from sqlalchemy.orm import declarative_base

Base = declarative_base()
