"""Inbox and ticket pages (every staff member; a ticket's details only to its assignee and
supervisors, staff.workflow.without_details)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.directory import get_directory
from bot.domain.display import need_label, slot_label, window_name
from bot.domain.labels import label, t
from bot.domain.timeutil import now_jst, parse_local, to_jst
from bot.security import crypto
from bot.store.db import session_scope
from bot.store.models import CallbackTicket, TicketNote, TicketStatus
from bot.store.tickets import view
from staff import rasa_client
from staff.accounts import StaffIdentity
from staff.auth import me
from staff.forms import NoteForm, OutcomeForm, PostForm, ReplyForm, StatusForm
from staff.workflow import (
    MAX_REPLY,
    InboxFilter,
    WorkflowError,
    add_note,
    allowed_next,
    audit,
    change_status,
    check_reply,
    claim,
    is_responsible,
    may_reply,
    record_reply,
    set_outcome,
    without_details,
    without_phones,
)
from staff.workflow import (
    inbox as inbox_tickets,
)

bp = Blueprint("views", __name__)


@dataclass(frozen=True)
class InboxRow:
    id: int
    status: str
    priority: str
    created_at: datetime
    preferred: str | None
    today: bool
    relation: str | None
    relation_detail: str | None
    age_band: str | None
    windows: list[str]
    needs: list[str]
    contact_method: str
    channel: str
    assigned_to: str | None
    next_attempt_at: datetime | None
    details: bool  # False: the viewer is neither the assignee nor a supervisor (M-8)


def _parse_filter(args: Any) -> tuple[InboxFilter, dict[str, str]]:
    d = get_directory()
    raw = {k: (args.get(k) or "").strip() for k in ("status", "priority", "date", "date_field", "window")}
    statuses = (raw["status"],) if raw["status"] in TicketStatus.ALL else TicketStatus.OPEN
    priority = raw["priority"] if raw["priority"] in ("urgent", "normal") else None
    try:
        day = date.fromisoformat(raw["date"]) if raw["date"] else None
    except ValueError:
        day = None
    day_field = "preferred" if raw["date_field"] == "preferred" else "created"
    window = raw["window"] if d.get(raw["window"]) else None
    shown = {
        "status": statuses[0] if len(statuses) == 1 else "",
        "priority": priority or "",
        "date": day.isoformat() if day else "",
        "date_field": day_field,
        "window": window or "",
    }
    return InboxFilter(statuses, priority, day, day_field, window), shown


def _row(ticket: CallbackTicket, today: date, user: StaffIdentity) -> InboxRow:
    d = get_directory()
    preferred_local = to_jst(ticket.preferred_at)
    details = is_responsible(ticket, user)
    return InboxRow(
        id=ticket.id,
        status=ticket.status,
        priority=ticket.priority,
        created_at=ticket.created_at,
        preferred=slot_label(ticket.preferred_slot, ticket.preferred_at, d),
        today=bool(preferred_local and preferred_local.date() == today),
        relation=ticket.relation if details else None,
        relation_detail=ticket.relation_detail if details else None,
        age_band=ticket.age_band if details else None,
        windows=[window_name(w, d) for w in ticket.windows or ()] if details else [],
        needs=[need_label(n, d) for n in ticket.needs or ()] if details else [],
        contact_method=ticket.contact_method if details else "",
        channel=ticket.channel,
        assigned_to=ticket.assigned_to,
        next_attempt_at=ticket.next_attempt_at,
        details=details,
    )


@bp.route("/")
def inbox() -> Any:
    flt, shown = _parse_filter(request.args)
    today = now_jst().date()
    user = me()
    with session_scope() as s:
        tickets = inbox_tickets(s, flt)
        if flt.window:
            # The recommended windows are a detail: filtering by one must not tell other staff
            # which of the tickets they may not read have it (M-8).
            tickets = [tk for tk in tickets if is_responsible(tk, user)]
        rows = [_row(tk, today, user) for tk in tickets]
    return render_template(
        "inbox.html", rows=rows, filters=shown, directory=get_directory(), statuses=TicketStatus.ALL, today=today
    )


# --- one ticket -------------------------------------------------------------------------------
def _load(s: Session, ticket_id: int) -> CallbackTicket:
    ticket = s.get(CallbackTicket, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _notes(s: Session, ticket_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(TicketNote.created_at, TicketNote.id)
    ).scalars()
    out = []
    for n in rows:
        body = crypto.decrypt(n.body_enc) or ""
        if n.kind == "status":
            before, _, after = body.partition(">")
            body = f"{label('status', before)} → {label('status', after)}"
        out.append({"at": n.created_at, "author": n.author, "kind": n.kind, "body": body})
    return out


def _render_ticket(
    ticket_id: int, *, reply_form: ReplyForm | None = None, status: int = 200, reply_error: str | None = None
) -> Any:
    user = me()
    d = get_directory()
    conversation: list[rasa_client.Utterance] | None = None
    conversation_error = False
    with session_scope() as s:
        ticket = _load(s, ticket_id)
        tv = view(ticket)
        details = is_responsible(ticket, user)
        show_phone = details and bool(tv.phone)
        has_recipient = bool(tv.sender_id) and ticket.erased_at is None
        phone_hidden = tv.contact_method == "phone" and not show_phone
        if not details:
            # Need-to-know (M-8): the assignee and supervisors only; the phone typed into the text too.
            tv = without_details(without_phones(tv))
        can_reply = may_reply(ticket, user) and has_recipient
        erased_at, closed_at, updated_at = ticket.erased_at, ticket.closed_at, ticket.updated_at
        targets = allowed_next(ticket, user)
        notes = _notes(s, ticket_id) if details else []
        audit(s, user, "view", ticket_id, "phone shown" if show_phone else None)
        show_conversation = user.is_supervisor and tv.share_conversation and bool(tv.sender_id)
        # Only the session the ticket was booked in; a ticket from before that was kept shows none.
        conversation_linked = tv.session_start is not None
        if show_conversation and conversation_linked:
            audit(s, user, "view_conversation", ticket_id)
    if show_conversation and conversation_linked and tv.sender_id and tv.session_start is not None:
        try:
            conversation = rasa_client.conversation(tv.sender_id, tv.session_start)
        except (rasa_client.RasaUnavailable, rasa_client.RasaRejected):
            conversation_error = True
    status_form = StatusForm()
    status_form.status.choices = [(x, label("status", x)) for x in targets]
    outcome_form = OutcomeForm(outcome_window=tv.outcome_window or "")
    outcome_form.outcome_window.choices = [("", "—")] + [(w.id, w.name) for w in d.windows]
    return render_template(
        "ticket.html",
        ticket=tv,
        erased_at=erased_at,
        closed_at=closed_at,
        updated_at=updated_at,
        needs=[need_label(n, d) for n in tv.needs],
        windows=[window_name(w, d) for w in tv.windows],
        preferred=slot_label(tv.preferred_slot, tv.preferred_at, d),
        notes=notes,
        targets=targets,
        can_claim=tv.status == TicketStatus.NEW and erased_at is None,
        status_form=status_form,
        note_form=NoteForm(),
        outcome_form=outcome_form,
        reply_form=reply_form or ReplyForm(),
        claim_form=PostForm(),
        reply_max=MAX_REPLY,
        reply_error=reply_error,
        show_conversation=show_conversation,
        conversation=conversation,
        can_reply=can_reply,
        has_recipient=has_recipient,
        details=details,
        phone_hidden=details and phone_hidden,
        conversation_linked=conversation_linked,
        conversation_error=conversation_error,
        outcome_name=window_name(tv.outcome_window, d) if tv.outcome_window else None,
    ), status


@bp.route("/tickets/<int:ticket_id>")
def ticket_page(ticket_id: int) -> Any:
    return _render_ticket(ticket_id)


def _change(ticket_id: int, fn: Any) -> Any:
    """Run one change in a transaction; a refused change flashes its reason."""
    try:
        with session_scope() as s:
            fn(s, _load(s, ticket_id))
    except WorkflowError as err:
        flash(t(f"flash.{err.key}", **{k: label("status", v) for k, v in err.values.items()}), "error")
        return False
    return True


def _back(ticket_id: int) -> Any:
    return redirect(url_for("views.ticket_page", ticket_id=ticket_id))


@bp.route("/tickets/<int:ticket_id>/claim", methods=["POST"])
def claim_ticket(ticket_id: int) -> Any:
    # CSRFProtect has checked the token before we get here.
    if _change(ticket_id, lambda s, tk: claim(s, tk, me())):
        flash(t("flash.claimed"), "ok")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/status", methods=["POST"])
def status(ticket_id: int) -> Any:
    form = StatusForm()
    if not form.validate_on_submit() or form.status.data not in TicketStatus.ALL:
        flash(t("flash.invalid_input"), "error")
        return _back(ticket_id)
    target = form.status.data
    raw_next = (form.next_attempt_at.data or "").strip()
    next_at = parse_local(raw_next) if raw_next else None
    if raw_next and next_at is None:
        flash(t("flash.invalid_input"), "error")
        return _back(ticket_id)
    if _change(ticket_id, lambda s, tk: change_status(s, tk, me(), target, next_at)):
        flash(t("flash.status_changed", status=label("status", target)), "ok")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/notes", methods=["POST"])
def note(ticket_id: int) -> Any:
    form = NoteForm()
    if not form.validate_on_submit():
        flash(t("flash.invalid_input"), "error")
        return _back(ticket_id)
    if _change(ticket_id, lambda s, tk: add_note(s, tk, me(), form.body.data)):
        flash(t("flash.note_added"), "ok")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/outcome", methods=["POST"])
def outcome(ticket_id: int) -> Any:
    form = OutcomeForm()
    if not form.validate_on_submit():
        flash(t("flash.invalid_input"), "error")
        return _back(ticket_id)
    known = [w.id for w in get_directory().windows]
    if _change(ticket_id, lambda s, tk: set_outcome(s, tk, me(), form.outcome_window.data or None, known)):
        flash(t("flash.outcome_saved"), "ok")
    return _back(ticket_id)


@bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
def reply(ticket_id: int) -> Any:
    form = ReplyForm()
    text = (form.message.data or "").strip()
    if not form.validate_on_submit() or not text:
        return _render_ticket(ticket_id, reply_form=form, status=400, reply_error=t("flash.invalid_input"))
    with session_scope() as s:
        ticket = _load(s, ticket_id)
        sender_id = ticket.sender_id if ticket.erased_at is None else None
        refused: str | None
        try:
            check_reply(ticket, me())
        except WorkflowError as err:
            refused = err.key
        else:
            refused = None
    if refused:
        return _render_ticket(
            ticket_id,
            reply_form=form,
            status=403 if refused == "reply_not_assignee" else 409,
            reply_error=t(f"flash.{refused}"),
        )
    if not sender_id:
        return _render_ticket(ticket_id, reply_form=form, status=409, reply_error=t("flash.reply_no_recipient"))
    try:
        rasa_client.send_staff_reply(sender_id, text)
    except rasa_client.RasaUnavailable:
        return _render_ticket(ticket_id, reply_form=form, status=503, reply_error=t("flash.reply_failed"))
    except rasa_client.RasaRejected:
        return _render_ticket(ticket_id, reply_form=form, status=502, reply_error=t("flash.reply_rejected"))
    _change(ticket_id, lambda s, tk: record_reply(s, tk, me(), text))
    flash(t("flash.reply_sent"), "ok")
    return _back(ticket_id)
