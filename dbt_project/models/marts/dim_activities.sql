{# One row per activity, current as of the run date, with its credit designations
   and the fields PARS's activity statuses need. Commercial support per supporter
   (commercial_support.csv), when landed for an activity, replaces the activity's
   own totals. #}
with activities as (select * from {{ ref('int_activities_deduplicated') }}),
credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),
supports as (select * from {{ ref('int_commercial_supports_deduplicated') }}),

supporters as (
    select
        activity_id,
        count(*) as supporters,
        cast(sum(monetary_amount) as decimal(18, 4)) as monetary,
        cast(sum(in_kind_amount) as decimal(18, 4)) as in_kind
    from supports
    group by activity_id
),

designations as (
    select
        activity_id,
        {{ list_agg("credit_type || '=' || cast(max_credits as varchar)", 'credit_type') }} as designations
    from credits
    group by activity_id
),

final as (
    select
        activities.activity_id,
        activities.title,
        activities.activity_format,
        activities.activity_format in ('C', 'RSS') as is_live,
        activities.start_date,
        activities.end_date,
        nullif(activities.accme_activity_id, '') as accme_activity_id,
        nullif(activities.cebroker_course_id, '') as cebroker_course_id,
        activities.providership,
        coalesce(activities.commercial_support, supporters.supporters > 0, false) as commercial_support,
        {# unanswered (null) is not "no": PARS needs the answer to close the activity #}
        coalesce(activities.commercial_support, supporters.supporters > 0) as commercial_support_answered,
        activities.commercial_agreement_signed_date,
        case
            when supporters.activity_id is not null then supporters.monetary
            else activities.commercial_support_monetary
        end as commercial_support_monetary,
        case
            when supporters.activity_id is not null then supporters.in_kind
            else activities.commercial_support_in_kind
        end as commercial_support_in_kind,
        coalesce(supporters.supporters, 0) as commercial_supporters,
        nullif(activities.delivery_method, '') as delivery_method,
        nullif(trim(activities.location_city), '') as location_city,
        upper(nullif(activities.location_state, '')) as location_state,
        upper(nullif(trim(activities.location_country), '')) as location_country,
        nullif(trim(activities.description), '') as description,
        nullif(trim(activities.joint_provider_name), '') as joint_provider_name,
        {{ split_distinct_sorted("coalesce(activities.outcome_measures, '')", ';') }} as outcome_measures,
        activities.pars_physician_learners,
        activities.pars_other_learners,
        activities.evaluation_required,
        activities.passing_score,
        coalesce(designations.designations, {{ empty_list() }}) as designations,
        activities.updated_at
    from activities
    left join designations using (activity_id)
    left join supporters using (activity_id)
)

select * from final
