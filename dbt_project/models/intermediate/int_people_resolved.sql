{# One row per person. Names and consent come from the most recently updated
   account; accounts that disagree on birth month/day or profession put the
   person in IDENTITY_CONFLICT, and nothing is credited or reported for them. #}
with accounts as (select * from {{ ref('int_accounts_linked') }}),
learners as (select * from {{ ref('int_learners_deduplicated') }}),

joined as (
    select
        accounts.person_id,
        learners.*,
        {{ format_date('learners.date_of_birth', '%m/%d') }} as birth_month_day
    from accounts
    inner join learners using (learner_id)
),

conflicts as (
    select
        person_id,
        count(distinct birth_month_day) > 1 as dob_differs,
        count(distinct profession) > 1 as profession_differs
    from joined
    group by person_id
),

final as (
    select
        joined.person_id,
        count(*) as account_count,
        {{ list_agg('joined.learner_id', 'joined.learner_id') }} as learner_ids,
        {{ arg_max('joined.first_name', ['joined.updated_at']) }} as first_name,
        {{ arg_max('joined.last_name', ['joined.updated_at']) }} as last_name,
        case when not conflicts.profession_differs then min(joined.profession) end as profession,
        case when not conflicts.dob_differs then min(joined.birth_month_day) end as birth_month_day,
        {{ arg_max('joined.npi', ['joined.updated_at'], filter=is_valid_npi('joined.npi')) }} as npi,
        max(
            joined.npi) filter (
            where nullif(joined.npi, '') is not null
            and not {{ is_valid_npi('joined.npi') }}
        ) as invalid_npi,
        {{ arg_max('joined.nabp_eprofile_id', ['joined.updated_at'], filter='joined.nabp_eprofile_id is not null') }}
            as nabp_eprofile_id,
        coalesce(
            {{ arg_max('joined.moc_consent', ['joined.updated_at'], filter='joined.moc_consent is not null') }}, false
        )
            as moc_consent,
        conflicts.dob_differs or conflicts.profession_differs as has_identity_conflict,
        concat_ws(
            '; ',
            case when conflicts.dob_differs then 'accounts disagree on birth month/day' end,
            case when conflicts.profession_differs then 'accounts disagree on profession' end
        ) as identity_conflict_reason,
        max(joined.updated_at) as updated_at,
        max(joined.extracted_on) as extracted_on
    from joined
    inner join conflicts using (person_id)
    group by joined.person_id, conflicts.dob_differs, conflicts.profession_differs
)

select * from final
