{# Qualification and credit awarded (rules section 4), one row per completion x
   candidate credit type. Candidates are the types the activity designates plus
   the non-MOC types the person's profession could earn, so "why no nursing
   credit?" gets NOT_DESIGNATED rather than silence. The first failing check is
   the decision's reason; no reason means awarded. #}
{# The body of int_credit_decisions_evaluated, over the completions in `completions_from`
   (a relation or CTE name with int_completions_unioned's columns). Every window and cap
   here is within one person, so the decisions of a set of people come out the same
   whether or not everyone else is in the input: fct_credit_decisions evaluates only the
   people a day touched, and the view evaluates everyone. #}
{% macro evaluate_credit_decisions(completions_from) %}
with completions as (
    select * from {{ completions_from }} where is_matched
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
        {#- one explanation per profession's own credit (seed explain_when_undesignated), so
            a longer catalog does not add a decision row per completion for every type;
            blank counts as true #}
        and coalesce(credit_types.explain_when_undesignated, true)
        and (credit_types.eligible_professions = '*'
             or {{ split_contains('credit_types.eligible_professions', '|', 'people.profession') }})
        and (credit_types.body <> 'JA_PARS' or '{{ var("accreditor") }}' = 'JA')
    where not exists (select 1 from designated
                      where designated.completion_key = completions.completion_key
                        and designated.credit_type = credit_types.credit_type)
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
        credit_types.board_split_rank,
        case
            when people.has_identity_conflict then 'IDENTITY_CONFLICT'
            when completions.is_revoked then 'COMPLETION_REVOKED'
            when completions.is_duplicate_account then 'DUPLICATE_ACCOUNT_COMPLETION'
            when not candidates.is_designated then 'NOT_DESIGNATED'
            when not (credit_types.eligible_professions = '*'
                      or {{ split_contains('credit_types.eligible_professions', '|', 'people.profession') }})
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

{# The cap across completions (issue 9): a person earns at most max_credits per
   activity and credit type over all their completions and accounts; for a
   format designated per session (seed activity_formats: RSS) the cap is per
   session (local) date. Completions that would earn are taken in order of
   completion time, then key, each up to what is left; the part over the cap is
   cut (CAP_REACHED when nothing is left). #}
formats as (select * from {{ ref('activity_formats') }}),

cap_keyed as (
    select
        credited.*,
        case when coalesce(formats.designation_per_session, false) then credited.completed_on end
            as cap_session_on,
        credited.failed_check is null and coalesce(credited.direct_credits, 0) > 0 as direct_earns
    from credited
    left join formats using (activity_format)
),

direct_capped as (
    select
        *,
        case when direct_earns and not is_moc
             then greatest(0, least(direct_credits, max_credits - coalesce(sum(direct_credits) over (
                    partition by person_id, activity_id, credit_type, cap_session_on, direct_earns
                    order by completed_at, completion_key
                    rows between unbounded preceding and 1 preceding), 0)))
             else direct_credits end as direct_after_cap
    from cap_keyed
),

{# MOC points are the AMA PRA Category 1 credits awarded on the same completion:
   `moc_computed` from the completion's own AMA credit (before the cap),
   `moc_from_capped` from what is left of it after the cap. #}
ama as (
    select completion_key, direct_credits as ama_credits, direct_after_cap as ama_after_cap
    from direct_capped
    where credit_type = 'AMA_PRA_1' and failed_check is null
),

with_moc as (
    select
        direct_capped.*,
        case
            when direct_capped.is_moc and direct_capped.max_credits is not null
                then {{ floor_to_step('least(coalesce(ama.ama_credits, 0), direct_capped.max_credits)',
                                      'direct_capped.step') }}
            else direct_capped.direct_credits
        end as credits_computed,
        case
            when direct_capped.is_moc and direct_capped.max_credits is not null
                then {{ floor_to_step('least(coalesce(ama.ama_after_cap, 0), direct_capped.max_credits)',
                                      'direct_capped.step') }}
            else direct_capped.direct_after_cap
        end as credits_after_ama_cap,
        ama.ama_after_cap
    from direct_capped
    left join ama using (completion_key)
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

{# The cap for MOC types too, over the completions that would earn points. #}
moc_capped as (
    select
        *,
        is_moc and failed_check is null and coalesce(credits_computed, 0) > 0
            and coalesce(abp_rank, 1) = 1 as moc_earns
    from ranked
),

capped as (
    select
        *,
        case when moc_earns
             then greatest(0, least(credits_after_ama_cap, max_credits - coalesce(sum(credits_after_ama_cap) over (
                    partition by person_id, activity_id, credit_type, cap_session_on, moc_earns
                    order by completed_at, completion_key
                    rows between unbounded preceding and 1 preceding), 0)))
             else credits_after_ama_cap end as credits_after_cap
    from moc_capped
),

{# A board's total on a completion is at most the AMA credit awarded on it (after
   the cap); it is shared out over the board's credit types in the catalog's
   board_split_rank order, each up to its own points, on its own step. A type
   left with nothing is BOARD_TOTAL_REACHED. #}
split as (
    select
        *,
        case when moc_earns and credits_after_cap > 0
             then {{ floor_to_step('greatest(0, least(credits_after_cap,
                    least(coalesce(ama_after_cap, 0), sum(credits_after_cap) over board_day)
                    - coalesce(sum(credits_after_cap) over board_before, 0)))', 'step') }}
        end as credits_split
    from capped
    window
        board_day as (partition by completion_key, moc_board, moc_earns and credits_after_cap > 0),
        board_before as (partition by completion_key, moc_board, moc_earns and credits_after_cap > 0
                         order by board_split_rank nulls last, credit_type
                         rows between unbounded preceding and 1 preceding)
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
            case when abp_rank > 1 then 'ABP_ONCE_PER_DAY' end,
            case when coalesce(credits_after_cap, 0) = 0 then 'CAP_REACHED' end,
            case when is_moc and coalesce(credits_split, 0) = 0 then 'BOARD_TOTAL_REACHED' end
        ) as reason_code,
        cast(coalesce(credits_computed, 0) as decimal(9, 2)) as credits_computed,
        cast(coalesce(case when is_moc then credits_split else credits_after_cap end, 0) as decimal(9, 2))
            as credits_earned,
        max_credits,
        step,
        uan,
        extracted_on
    from split
),

final as (
    select
        decision_id, completion_key, credit_type, person_id, learner_id, activity_id,
        completion_source, completion_id, completed_at, completed_on, body, unit, moc_board,
        is_moc, credits_computed, max_credits, step, uan, extracted_on,
        reason_code is null as is_awarded,
        reason_code,
        cast(case when reason_code is null then credits_earned else 0 end as decimal(9, 2))
            as credits_awarded
    from decided
)

select * from final
{% endmacro %}
