"""Staff accounts. The table is defined with the others in the store layer (bot.store.models),
where the migrations see it (bot/store/migrations, issue 19); this module keeps the names the
staff app uses."""

from __future__ import annotations

from bot.store.models import StaffRole as Role
from bot.store.models import StaffUser, new_session_nonce

__all__ = ["Role", "StaffUser", "new_session_nonce"]
