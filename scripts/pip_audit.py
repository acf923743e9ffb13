"""The `pip-audit` stage of `make test` (issue 21): every installed package of .venv against the
known advisories; a stage that fails on one that is not listed as an accepted exception.

    .venv/bin/python scripts/pip_audit.py

* pip-audit lives in its own environment, var/pip-audit/venv, installed from
  .ci/pip-audit-requirements.txt (it needs packaging>=21; Rasa 3.6 pins packaging<21), and reads
  .venv's site-packages from outside (``--path``). madoguchi itself (editable) is not audited.
* Accepted exceptions: deploy/pip-audit-ignore.txt, one advisory a line, ``ID  reason``. An
  entry without a reason fails the stage; an entry nothing reports any more is named, so that
  it can be removed.
* **Fails closed.** When the advisories cannot be read (no network, a package index without
  advisory data, a time-out), packages come back "not audited": the stage then fails and says
  ``pip-audit: NOT AUDITED``. ``MADOGUCHI_PIP_AUDIT_OFFLINE_OK=1`` lets it pass all the same,
  still printing that line (CI sets it: its network reaches a package mirror without advisory
  data, see docs/security.md). A known advisory fails the stage whatever that variable says.

Settings: MADOGUCHI_PIP_AUDIT_SERVICE (pypi, the default, or osv), MADOGUCHI_PIP_AUDIT_OSV_URL
(an OSV mirror), MADOGUCHI_PIP_AUDIT_IGNORE (another exceptions file), MADOGUCHI_PIP_AUDIT_TIMEOUT
(seconds for the whole audit, default 50).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / ".ci" / "pip-audit-requirements.txt"
IGNORE = ROOT / "deploy" / "pip-audit-ignore.txt"
TOOL_DIR = ROOT / "var" / "pip-audit"
NOT_AUDITED = "pip-audit: NOT AUDITED"


class StageError(RuntimeError):
    """The stage cannot run (pip-audit not installable, an exceptions file without reasons)."""


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    advisory: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def ids(self) -> set[str]:
        return {self.advisory, *self.aliases}

    def __str__(self) -> str:
        fix = f", fixed in {', '.join(self.fixed_in)}" if self.fixed_in else ", no fixed version"
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.package} {self.version}: {self.advisory}{also}{fix}"


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    audited: int
    not_audited: tuple[str, ...]  # "name version: why"


def read_exceptions(path: Path) -> dict[str, str]:
    """Advisory id → the reason it is accepted. A line without a reason is an error."""
    accepted: dict[str, str] = {}
    if not path.exists():
        return accepted
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        advisory, _, reason = line.partition(" ")
        if not reason.strip():
            raise StageError(f"{path.name}:{n}: {advisory} has no reason (ID  why it cannot be reached)")
        accepted[advisory] = reason.strip()
    return accepted


def parse_report(data: Mapping) -> Report:
    findings, audited, skipped = [], 0, []
    for dep in data.get("dependencies", []):
        if "editable" in (dep.get("skip_reason") or ""):
            continue  # madoguchi itself (pip install -e .), on no index
        if dep.get("skip_reason"):
            skipped.append(f"{dep.get('name')} {dep.get('version', '')}".strip() + f": {dep['skip_reason']}")
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            findings.append(
                Finding(
                    dep["name"],
                    dep.get("version", ""),
                    vuln["id"],
                    tuple(vuln.get("aliases") or ()),
                    tuple(vuln.get("fix_versions") or ()),
                )
            )
    return Report(tuple(findings), audited, tuple(skipped))


def tool_python() -> Path:
    """var/pip-audit/venv with exactly .ci/pip-audit-requirements.txt (reinstalled when it changes)."""
    venv = TOOL_DIR / "venv"
    python = venv / "bin" / "python"
    stamp = venv / f".req-{hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]}"
    if python.exists() and stamp.exists():
        return python
    TOOL_DIR.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise StageError("cannot install pip-audit: " + done.stderr.strip()[-1500:])
    for old in venv.glob(".req-*"):
        old.unlink()
    stamp.touch()
    return python


def run_pip_audit(python: Path, env: Mapping[str, str], site_packages: str) -> tuple[Optional[Report], str]:
    """(report, problem): report None when pip-audit gave no report at all."""
    service = env.get("MADOGUCHI_PIP_AUDIT_SERVICE") or "pypi"
    timeout = float(env.get("MADOGUCHI_PIP_AUDIT_TIMEOUT") or 50)
    with tempfile.TemporaryDirectory(prefix="pip-audit-") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [
            str(python),
            "-m",
            "pip_audit",
            "--path",
            site_packages,
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--aliases",
            "on",
            "--desc",
            "off",
            "--timeout",
            "10",
            "--vulnerability-service",
            service,
            "--output",
            str(out),
        ]
        if env.get("MADOGUCHI_PIP_AUDIT_OSV_URL"):
            cmd += ["--osv-url", env["MADOGUCHI_PIP_AUDIT_OSV_URL"]]
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "PIP_AUDIT_CACHE_DIR": str(TOOL_DIR / "cache")},
            )
        except subprocess.TimeoutExpired:
            return None, f"no answer within {timeout:.0f} s"
        if out.exists() and out.stat().st_size:
            return parse_report(json.loads(out.read_text(encoding="utf-8"))), ""
        return None, (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def judge(
    report: Optional[Report], problem: str, accepted: Mapping[str, str], offline_ok: bool
) -> tuple[int, list[str]]:
    """The exit status and what the stage prints."""
    lines: list[str] = []
    status = 0
    if report is None or report.not_audited:
        missing = "every package" if report is None else f"{len(report.not_audited)} package(s)"
        why = problem or (report.not_audited[0] if report else "")
        lines.append(f"{NOT_AUDITED}: the advisories could not be read for {missing} ({why})")
        if offline_ok:
            lines.append("  passing anyway: MADOGUCHI_PIP_AUDIT_OFFLINE_OK=1 (nothing was checked for these)")
        else:
            lines.append(
                "  failing closed; on a machine that cannot reach the advisories set "
                "MADOGUCHI_PIP_AUDIT_OFFLINE_OK=1 to go on (docs/security.md)"
            )
            status = 1
    if report is None:
        return status, lines
    open_findings = [f for f in report.findings if not f.ids() & set(accepted)]
    for f in report.findings:
        if f not in open_findings:
            reason = accepted[sorted(f.ids() & set(accepted))[0]]
            lines.append(f"  accepted: {f} — {reason}")
    for f in open_findings:
        lines.append(f"  KNOWN ADVISORY: {f}")
    if open_findings:
        lines.append(
            f"pip-audit: {len(open_findings)} known advisory(ies) in installed packages: upgrade "
            "(constraints.txt) or list it in deploy/pip-audit-ignore.txt with the reason it cannot be reached"
        )
        status = 1
    seen = set().union(*(f.ids() for f in report.findings)) if report.findings else set()
    for advisory in sorted(set(accepted) - seen):
        if not report.not_audited:
            lines.append(f"  no longer reported, remove from deploy/pip-audit-ignore.txt: {advisory}")
    lines.append(
        f"pip-audit: {report.audited} package(s) audited, {len(report.findings)} advisory(ies), "
        f"{len(report.findings) - len(open_findings)} accepted"
    )
    return status, lines


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    try:
        accepted = read_exceptions(Path(env.get("MADOGUCHI_PIP_AUDIT_IGNORE") or IGNORE))
        python = tool_python()
    except StageError as exc:
        print(f"pip-audit: {exc}", file=sys.stderr)
        return 1
    report, problem = run_pip_audit(python, env, sysconfig.get_paths()["purelib"])
    status, lines = judge(report, problem, accepted, (env.get("MADOGUCHI_PIP_AUDIT_OFFLINE_OK") or "") == "1")
    print("\n".join(lines))
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
