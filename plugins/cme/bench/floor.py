"""The floor: DuckDB alone reading a day's completion and activity CSVs and writing the
awards in one SQL statement (no validation, identities, routing, gates or files). What the
pipeline costs beyond this is the price of the compliance rules.

    python -m cme.bench.floor FOLDER DATABASE
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

AWARDS = """
create or replace table awards as
with completions as (
    select * from read_csv($completions, header = true, all_varchar = true)),
activities as (
    select * from read_csv($activities, header = true, all_varchar = true)),
credits as (
    select * from read_csv($credits, header = true, all_varchar = true)),
final as (
    select c.completion_id, c.learner_id, c.activity_id, k.credit_type,
           least(coalesce(try_cast(c.credits_claimed as decimal(18, 4)),
                          floor(try_cast(c.minutes_engaged as integer) / 15) * 0.25),
                 try_cast(k.max_credits as decimal(18, 4))) as credits,
           try_cast(c.completed_at as timestamptz) as completed_at
    from completions c
    join activities a using (activity_id)
    join credits k using (activity_id)
    where c.status = 'completed' and c.learner_id is not null
      and try_cast(c.completed_at as timestamptz) is not null
    qualify row_number() over (partition by c.completion_id, k.credit_type order by c.learner_id) = 1)
select * from final
"""


def main() -> None:
    folder, database = Path(sys.argv[1]), Path(sys.argv[2])
    con = duckdb.connect(str(database))
    con.execute(AWARDS, {"completions": str(folder / "lms_completions.csv"),
                         "activities": str(folder / "activities.csv"),
                         "credits": str(folder / "activity_credits.csv")})
    print(json.dumps({"awards": con.execute("select count(*) from awards").fetchone()[0]}))
    con.close()


if __name__ == "__main__":
    main()
