{# Qualification and credit awarded (rules section 4), one row per completion x
   candidate credit type. Candidates are the types the activity designates plus
   the non-MOC types the person's profession could earn, so "why no nursing
   credit?" gets NOT_DESIGNATED rather than silence. The first failing check is
   the decision's reason; no reason means awarded. #}
with completions as (
    select * from {{ ref('int_completions_unioned') }} where is_matched
),
activities as (select * from {{ ref('int_activities_deduplicated') }}),
activity_credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),
people as (select * from {{ ref('int_people_resolved') }}),
credit_types as (select * from {{ ref('int_credit_types_configured') }}),

designated as (
    select completions.completion_key, activity_credits.credit_type,
           activity_credits.max_credits, activity_credits.uan
    from completions
    inner join activity_credits using (activity_id)
),

eligible_undesignated as (
    select completions.completion_key, credit_types.credit_type,
           cast(null as decimal(9, 2)) as max_credits, cast(null as varchar) as uan
    from completions
    inner join people using (person_id)
    inner join credit_types
        on not credit_types.is_moc
        and (credit_types.eligible_professions = '*'
             or list_contains(string_split(credit_types.eligible_professions, '|'), people.profession))
        and (credit_types.body <> 'JA_PARS' or '{{ var("accreditor") }}' = 'JA')
    anti join designated using (completion_key, credit_type)
),

candidates as (
    select *, true as is_designated from designated
    union all
    select *, false as is_designated from eligible_undesignated
),

checked as (
    select
        candidates.completion_key,
        candidates.credit_type,
        candidates.is_designated,
        candidates.max_credits,
        candidates.uan,
        completions.person_id,
        completions.learner_id,
        completions.activity_id,
        completions.completion_source,
        completions.completion_id,
        completions.completed_at,
        completions.completed_on,
        completions.minutes_engaged,
        completions.credits_claimed,
        completions.extracted_on,
        activities.activity_format,
        credit_types.body,
        credit_types.unit,
        credit_types.step,
        credit_types.is_moc,
        credit_types.moc_board,
        case
            when people.has_identity_conflict then 'IDENTITY_CONFLICT'
            when completions.is_revoked then 'COMPLETION_REVOKED'
            when completions.is_duplicate_account then 'DUPLICATE_ACCOUNT_COMPLETION'
            when not candidates.is_designated then 'NOT_DESIGNATED'
            when not (credit_types.eligible_professions = '*'
                      or list_contains(string_split(credit_types.eligible_professions, '|'),
                                       people.profession))
                then 'PROFESSION_NOT_ELIGIBLE'
            when completions.completed_on not between activities.start_date and activities.end_date
                then 'OUTSIDE_ACTIVITY_WINDOW'
            when completions.completion_source = 'lms' and activities.passing_score is not null
                 and coalesce(completions.post_test_score, -1) < activities.passing_score
                then 'POST_TEST_NOT_PASSED'
            when activities.evaluation_required and not completions.evaluation_completed
                then 'EVALUATION_MISSING'
            when credit_types.is_moc and not completions.moc_requested then 'MOC_NOT_REQUESTED'
            when credit_types.is_moc and not people.moc_consent then 'MOC_CONSENT_MISSING'
        end as failed_check
    from candidates
    inner join completions using (completion_key)
    inner join activities using (activity_id)
    inner join people using (person_id)
    inner join credit_types using (credit_type)
),

{# Claimed credit rounds down; derived credit (minutes) rounds to the nearest step. #}
credited as (
    select
        *,
        case
            when is_moc or max_credits is null then null
            when credits_claimed is not null
                then least({{ floor_to_step('credits_claimed', 'step') }}, max_credits)
            when minutes_engaged is not null
                then least({{ round_half_up_to_step('minutes_engaged / 60.0', 'step') }}, max_credits)
            else 0
        end as direct_credits
    from checked
),

{# MOC points are the AMA PRA Category 1 credits awarded on the same completion. #}
ama_awarded as (
    select completion_key, direct_credits as ama_credits
    from credited
    where credit_type = 'AMA_PRA_1' and failed_check is null
),

with_moc as (
    select
        credited.*,
        case
            when credited.is_moc and credited.max_credits is not null
                then {{ floor_to_step('least(coalesce(ama_awarded.ama_credits, 0), credited.max_credits)',
                                      'credited.step') }}
            else credited.direct_credits
        end as credits_computed
    from credited
    left join ama_awarded using (completion_key)
),

{# ABP: one award per person, activity and day, except journal-based activities. #}
ranked as (
    select
        *,
        case when moc_board = 'ABP' and activity_format <> 'JN'
                  and failed_check is null and credits_computed > 0
             then row_number() over (
                partition by person_id, activity_id, completed_on, credit_type,
                    (moc_board = 'ABP' and activity_format <> 'JN'
                     and failed_check is null and credits_computed > 0)
                order by completed_at, completion_key)
        end as abp_rank
    from with_moc
),

decided as (
    select
        md5(completion_key || '|' || credit_type) as decision_id,
        completion_key,
        credit_type,
        person_id,
        learner_id,
        activity_id,
        completion_source,
        completion_id,
        completed_at,
        completed_on,
        body,
        unit,
        moc_board,
        is_moc,
        coalesce(
            failed_check,
            case when coalesce(credits_computed, 0) = 0 then 'ZERO_CREDIT' end,
            case when abp_rank > 1 then 'ABP_ONCE_PER_DAY' end
        ) as reason_code,
        cast(coalesce(credits_computed, 0) as decimal(9, 2)) as credits_computed,
        max_credits,
        step,
        uan,
        extracted_on
    from ranked
),

final as (
    select
        * exclude (reason_code),
        reason_code is null as is_awarded,
        reason_code,
        cast(case when reason_code is null then credits_computed else 0 end as decimal(9, 2))
            as credits_awarded
    from decided
)

select * from final
