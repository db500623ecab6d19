{# Disclosure status per activity and person in a content role: compliant, at risk
   (problems not yet due), or finding (problems past due). Upcoming activities with
   open problems are flagged so staff act before the problems become findings. #}
with rows as (
    select * from {{ ref('int_faculty_disclosures_deduplicated') }}
    where role <> 'staff'
),
problems as (select * from {{ ref('int_disclosures_evaluated') }}),
activities as (select * from {{ ref('dim_activities') }}),

people_in_roles as (
    select
        faculty_person_id,
        activity_id,
        role,
        min(role_start_date) as role_start_date,
        max(signed_date) as signed_date
    from rows
    group by faculty_person_id, activity_id, role
),

summarized as (
    select
        faculty_person_id,
        activity_id,
        role,
        {{ list_agg('reason_code', 'reason_code') }} as open_problems,
        min(due_on) as next_due_on
    from problems
    group by faculty_person_id, activity_id, role
),

final as (
    select
        people_in_roles.activity_id || '|' || people_in_roles.faculty_person_id || '|' || people_in_roles.role
            as disclosure_status_id,
        people_in_roles.activity_id,
        activities.title as activity_title,
        activities.start_date as activity_start_date,
        people_in_roles.faculty_person_id,
        people_in_roles.role,
        people_in_roles.role_start_date,
        people_in_roles.signed_date,
        coalesce(summarized.open_problems, {{ empty_text_list() }}) as open_problems,
        summarized.next_due_on,
        case
            when summarized.open_problems is null then 'compliant'
            when summarized.next_due_on < {{ as_of_date() }} then 'finding'
            else 'at risk'
        end as status,
        activities.start_date between {{ as_of_date() }}
        and {{ as_of_date() }} + {{ var('disclosure_upcoming_days') }} as starts_soon
    from people_in_roles
    left join summarized using (faculty_person_id, activity_id, role)
    left join activities using (activity_id)
)

select * from final
