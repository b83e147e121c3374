"""The summary a subcommand prints on stdout: the overall status and one line per check."""

from __future__ import annotations

from undertow.jobs.sections import Section


def summary(sections: list[Section], status: str, exit_code: int, notes: list[str]) -> str:
    checks = [c for s in sections for c in s.checks]
    counts = {k: sum(c.status == k for c in checks) for k in ("ok", "warn", "fail", "skipped")}
    lines = [
        f"undertow: {status.upper()} (exit {exit_code}): {len(sections)} section(s), {len(checks)} check(s): "
        + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    ]
    for section in sections:
        lines.append(f"{section.kind} ({section.name}): {section.native_status}")
        width = max([len(c.name) for c in section.checks] + [6])
        shown = sorted(section.checks, key=lambda c: {"fail": 0, "warn": 1}.get(c.status, 2))
        for check in shown[:25]:
            lines.append(f"  {check.status:<7} {check.name:<{width}}  {check.message}")
        if len(shown) > 25:
            lines.append(f"  ... {len(shown) - 25} more (see the JSON or JUnit output)")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)
