"""Supervisor pages: audit log, ticket export, statistics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from sqlalchemy import func, select

from bot.domain.directory import get_directory
from bot.domain.labels import label, t, texts
from bot.domain.timeutil import now_jst
from bot.store import stats
from bot.store.db import session_scope
from bot.store.models import AuditEntry
from staff.auth import me, supervisor_required
from staff.csvout import to_csv
from staff.exporting import ExportRequest, header, rows
from staff.forms import ExportForm
from staff.workflow import audit

bp = Blueprint("supervisor", __name__)
AUDIT_PAGE_SIZE = 50


def _csv_response(body: bytes, filename: str) -> Response:
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


# --- audit log ----------------------------------------------------------------------------------
@bp.route("/audit")
@supervisor_required
def audit_log() -> Any:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    ticket = request.args.get("ticket", type=int)
    actor = (request.args.get("actor") or "").strip()[:64]
    with session_scope() as s:
        q = select(AuditEntry)
        count_q = select(func.count(AuditEntry.id))
        if ticket:
            q, count_q = q.where(AuditEntry.ticket_id == ticket), count_q.where(AuditEntry.ticket_id == ticket)
        if actor:
            q, count_q = q.where(AuditEntry.actor == actor), count_q.where(AuditEntry.actor == actor)
        total = s.execute(count_q).scalar_one()
        entries = (
            s.execute(
                q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .offset((page - 1) * AUDIT_PAGE_SIZE)
                .limit(AUDIT_PAGE_SIZE)
            )
            .scalars()
            .all()
        )
        shown = [
            {"at": e.at, "actor": e.actor, "action": e.action, "ticket_id": e.ticket_id, "detail": e.detail}
            for e in entries
        ]
    pages = max((total + AUDIT_PAGE_SIZE - 1) // AUDIT_PAGE_SIZE, 1)
    return render_template(
        "audit.html", entries=shown, page=page, pages=pages, total=total, ticket=ticket or "", actor=actor
    )


# --- export -------------------------------------------------------------------------------------
@bp.route("/export")
@supervisor_required
def export_form() -> Any:
    return render_template("export.html", form=ExportForm(), error=None)


def _export(req: ExportRequest) -> Response:
    with session_scope() as s:
        data = [header(req.include_phone), *rows(s, req, me())]
        audit(
            s,
            me(),
            "export",
            None,
            f"include_phone={'yes' if req.include_phone else 'no'} rows={len(data) - 1} scope={req.scope}"
            + (f" from={req.created_from}" if req.created_from else "")
            + (f" to={req.created_to}" if req.created_to else ""),
        )
    stamp = now_jst().strftime("%Y%m%d-%H%M")
    suffix = "-with-phone" if req.include_phone else ""
    return _csv_response(to_csv(data), f"madoguchi-tickets-{stamp}{suffix}.csv")


@bp.route("/export.csv", methods=["GET", "POST"])
@supervisor_required
def export_csv() -> Any:
    if request.method == "GET":
        if request.args.get("include_phone"):
            # Phone numbers only through the confirmation form (a POST with its CSRF token).
            return redirect(url_for("supervisor.export_form"))
        return _export(ExportRequest())
    form = ExportForm()
    if not form.validate_on_submit():
        return render_template("export.html", form=form, error=t("flash.invalid_input")), 400
    include_phone = bool(form.include_phone.data)
    if include_phone and not form.confirm_phone.data:
        return render_template("export.html", form=form, error=t("flash.confirm_phone_required")), 400
    scope = form.scope.data if form.scope.data in ("all", "open") else "all"
    return _export(ExportRequest(include_phone, scope, form.created_from.data, form.created_to.data))


# --- statistics ---------------------------------------------------------------------------------
def _period() -> tuple[int, int | None]:
    this_year = stats.fiscal_year_of(now_jst().date())
    year = request.args.get("year", this_year, type=int) or this_year
    year = min(max(year, 2000), this_year + 1)
    month = request.args.get("month", type=int)
    return year, month if month in range(1, 13) else None


def _label_items(dimension: str, items: list[stats.Item]) -> list[dict[str, Any]]:
    def name(item: stats.Item) -> str:
        if item.key == stats.UNKNOWN:
            return t("unknown")
        if dimension == "relation":
            return label("relation", item.key)
        if dimension == "hours":
            return t("stats_csv.hour_label", hour=item.key)
        return item.label

    return [{"key": i.key, "label": name(i), "value": i.value} for i in items]


@bp.route("/stats")
@supervisor_required
def stats_page() -> Any:
    year, month = _period()
    rep = stats.report(year, month, get_directory(), today=now_jst().date())
    dims = {
        d: _label_items(d, getattr(rep.breakdown, d)) for d in ("relation", "age_band", "needs", "windows", "hours")
    }
    chart = {
        "months": [t("stats_labels.month", month=int(r.key[5:])) for r in rep.months],
        "persons": [stats.chart_value(r.consult_persons) for r in rep.months],
        "conversations": [stats.chart_value(r.consult_count) for r in rep.months],
        "hours": [stats.chart_value(i["value"]) for i in dims["hours"][:24]],
        "hourLabels": [f"{h}" for h in range(24)],
        "nightHours": list(stats.NIGHT_HOURS),
        "ageBands": [i["label"] for i in dims["age_band"]],
        "ageValues": [stats.chart_value(i["value"]) for i in dims["age_band"]],
    }
    return render_template(
        "stats.html",
        rep=rep,
        dims=dims,
        chart=chart,
        year=year,
        month=month,
        suppressed=stats.SUPPRESSED,
        years=list(range(stats.fiscal_year_of(now_jst().date()), 2019, -1)),
    )


@bp.route("/stats.csv")
@supervisor_required
def stats_csv() -> Response:
    year, month = _period()
    rep = stats.report(year, month, get_directory(), today=now_jst().date())
    h = texts()["stats_csv"]
    data: list[list[object]] = [[h["section_monthly"]], [h["month"], *[h[f] for f in stats.MONTH_FIELDS]]]
    for r in [*rep.months, rep.total]:
        data.append([h["total"] if r.key == "total" else r.key, *[getattr(r, f) for f in stats.MONTH_FIELDS]])
    data += [[], [h["section_breakdown"], rep.breakdown.period], [h["dimension"], h["item"], h["value"]]]
    for dim in ("relation", "age_band", "needs", "windows", "hours"):
        for item in _label_items(dim, getattr(rep.breakdown, dim)):
            data.append([h[dim if dim != "hours" else "hour"], item["label"], item["value"]])
    data.append([h["night"], "", rep.breakdown.night])
    with session_scope() as s:
        audit(s, me(), "stats_export", None, f"year={year} month={month or '-'}")
    return _csv_response(to_csv(data), f"madoguchi-stats-{year}{'-' + str(month) if month else ''}.csv")
