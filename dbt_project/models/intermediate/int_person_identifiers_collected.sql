{# The identifiers bodies ask for, gathered across a person's accounts. #}
with accounts as (select * from {{ ref('int_accounts_linked') }}),
licenses as (select * from {{ ref('int_learner_licenses_deduplicated') }}),
boards as (select * from {{ ref('int_learner_board_ids_deduplicated') }}),

{# expires_on: the latest expiry any of the person's accounts gives for the license
   (blank is unknown, and never counts as expired). #}
person_licenses as (
    select
        accounts.person_id,
        licenses.state,
        upper(trim(licenses.license_number)) as license_number,
        licenses.license_profession,
        max(licenses.expires_on) as expires_on
    from licenses
    inner join accounts using (learner_id)
    group by accounts.person_id, licenses.state, upper(trim(licenses.license_number)), licenses.license_profession
),

{# PARS takes one license: a physician license (MD/DO) first, then the one that
   runs longest (an unexpired one before an expired one; unknown expiry counts as
   current), then by state. It does not depend on the run date, so a license
   expiring later never changes a record already sent. #}
pars_license as (
    select
        person_id,
        {% set pars_order = ["case when license_profession in ('MD', 'DO') then 0 else 1 end",
                             "-" ~ epoch_of("coalesce(expires_on, date '9999-12-31')"), 'state', 'license_number'] %}
        {{ arg_min('state', pars_order) }} as licensing_state,
        {{ arg_min('license_number', pars_order) }} as license_number
    from person_licenses
    group by person_id
),

board_ids as (
    select
        accounts.person_id,
        boards.board,
        max(nullif(trim(boards.board_id), '')) as board_id
    from boards
    inner join accounts using (learner_id)
    group by accounts.person_id, boards.board
),

final as (
    select
        person_licenses.person_id,
        'license' as identifier_kind,
        person_licenses.state,
        person_licenses.license_number,
        person_licenses.license_profession,
        person_licenses.expires_on,
        cast(null as varchar) as board,
        cast(null as varchar) as board_id,
        (pars_license.licensing_state is not distinct from person_licenses.state)
        and pars_license.license_number = person_licenses.license_number as is_pars_license
    from person_licenses
    left join pars_license using (person_id)
    union all
    select
        person_id,
        'board',
        null,
        null,
        null,
        null,
        board,
        board_id,
        false
    from board_ids
)

select * from final
