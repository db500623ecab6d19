"""One stage of a daily run, for the benchmark to measure in a process of its own:

    python -m cme.bench.stage STAGE --landing DIR --out DIR --date YYYY-MM-DD

The stages call the same `cme.pipeline` steps the DAG's tasks call, in the DAG's order;
`exports` and `delivery` are the two halves of the DAG's export task. Prints one JSON line
of counts (no learner values).
"""
from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

STAGES = ("ingest", "dbt", "gates", "exports", "delivery", "refresh", "summary")


def run_stage(stage: str, ctx) -> dict:
    from cme import pipeline
    from cme.bodies import all_bodies

    if stage == "ingest":
        pipeline.check_settings(ctx)
        report = pipeline.ingest(ctx, load_id=f"{ctx.run_date}/bench")
        return {"rows_read": report["rows_read"], "rows_quarantined": report["rows_quarantined"]}
    if stage == "dbt":
        return {"dbt": pipeline.build(ctx)}
    bodies = pipeline.list_bodies(ctx)
    if stage == "gates":
        return {b: pipeline.gate(ctx, b)["records_due"] for b in bodies}
    if stage == "exports":
        from cme.export import export_body

        return {b: export_body(ctx.warehouse, all_bodies()[b], ctx.run_date, ctx.out,
                               ctx.settings()).records_written for b in bodies}
    if stage == "delivery":
        from cme.delivery import deliver_body

        settings, done = ctx.settings(), {}
        for b in bodies:
            result = deliver_body(ctx.warehouse, all_bodies()[b], ctx.run_date, settings,
                                  timeout=settings.http_timeout_seconds)
            done[b] = result.transport
            # what the DAG's export task records once both halves are done
            pipeline._write_status(ctx, b, {"status": "ok", "stage": "done", "error_class": None,
                                            "message": None})
        return done
    if stage == "refresh":
        return pipeline.refresh_after_export(ctx)
    if stage == "summary":
        summary = pipeline.summarize(ctx)
        pipeline.check_exports(ctx)
        return {"summary_keys": len(summary)}
    raise SystemExit(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")


def main() -> None:
    from cme.pipeline import RunContext

    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--date", required=True)
    args = parser.parse_args()
    ctx = RunContext(date.fromisoformat(args.date), args.landing.resolve(), args.out.resolve(), None)
    print(json.dumps(run_stage(args.stage, ctx), default=str))


if __name__ == "__main__":
    main()
