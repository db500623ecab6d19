"""What the portal reads from the warehouse (read-only): who an address belongs to,
and a learner's awards. Only the learner's own rows, by person id."""
from __future__ import annotations

# Any account's address finds the person; several people may share one address
# (a household), and each gets their own link.
PEOPLE_BY_EMAIL_SQL = """
select distinct person_id
from main.dim_learner_accounts
where email = $email
order by 1
"""

AWARDS_SQL = """
select act.title, awards.activity_id, ct.report_label, awards.unit,
       sum(awards.credits_awarded) as credits, max(awards.completed_on) as completed_on
from main.fct_credit_awards as awards
inner join main.dim_activities as act using (activity_id)
inner join main.dim_credit_types as ct using (credit_type)
where awards.person_id = $person
group by act.title, awards.activity_id, ct.report_label, awards.unit
order by max(awards.completed_on) desc, awards.activity_id, ct.report_label
"""

YEARS_SQL = """
select distinct cast(extract(year from completed_on) as bigint)
from main.fct_credit_awards where person_id = $person order by 1 desc
"""


def normalise_email(value: str) -> str:
    return value.strip().lower()


def people_for_email(con, email: str) -> list[str]:
    return [p for (p,) in con.execute(PEOPLE_BY_EMAIL_SQL, {"email": normalise_email(email)}).fetchall()]


def awards(con, person_id: str) -> list[dict]:
    cur = con.execute(AWARDS_SQL, {"person": person_id})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def award_years(con, person_id: str) -> list[int]:
    return [y for (y,) in con.execute(YEARS_SQL, {"person": person_id}).fetchall()]


def first_name(con, person_id: str) -> str:
    row = con.execute("select first_name from main.dim_people where person_id = $person",
                      {"person": person_id}).fetchone()
    return row[0] if row else ""
