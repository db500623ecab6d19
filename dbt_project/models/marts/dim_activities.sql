{# One row per activity, current as of the run date, with its credit designations. #}
with activities as (select * from {{ ref('int_activities_deduplicated') }}),
credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),

designations as (
    select
        activity_id,
        list(credit_type || '=' || cast(max_credits as varchar) order by credit_type) as designations
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
        coalesce(activities.commercial_support, false) as commercial_support,
        activities.commercial_agreement_signed_date,
        activities.evaluation_required,
        activities.passing_score,
        coalesce(designations.designations, []) as designations,
        activities.updated_at
    from activities
    left join designations using (activity_id)
)

select * from final
