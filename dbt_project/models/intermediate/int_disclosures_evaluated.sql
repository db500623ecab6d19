{# Standard 3 checks (rules section 6), one row per problem, for every person in a
   content role (staff are exempt) of an activity, judged on their latest
   disclosure for that activity and role. Each problem carries its due date (the
   role start, or the activity start), so problems show before they are findings. #}
with rows as (select * from {{ ref('int_faculty_disclosures_deduplicated') }}),
activities as (select * from {{ ref('int_activities_deduplicated') }}),
documents as (select * from {{ ref('stg_landing__disclosure_documents') }}),

disclosures as (
    select
        disclosure_id,
        faculty_person_id,
        activity_id,
        role,
        min(role_start_date) as role_start_date,
        max(signed_date) as signed_date,
        max(learner_disclosure_date) as learner_disclosure_date,
        max(document_sha256) as document_sha256
    from rows
    where role <> 'staff'
    group by disclosure_id, faculty_person_id, activity_id, role
),

latest as (
    {{ first_row_per('disclosures', ['faculty_person_id', 'activity_id', 'role'],
                     'signed_date desc nulls last, disclosure_id desc') }}
),

relationships as (
    select
        rows.*,
        latest.role_start_date as start_of_role
    from rows
    inner join latest using (disclosure_id)
    where coalesce(rows.has_relationships, false)
),

problems as (
    select
        disclosure_id,
        'DISCLOSURE_MISSING' as reason_code,
        role_start_date as due_on,
        'no signed disclosure' as detail
    from latest
    where signed_date is null
    union all
    select
        disclosure_id,
        'DISCLOSURE_STALE',
        role_start_date,
        case
            when signed_date > role_start_date then 'signed after the role started'
            else 'signed more than {{ var("disclosure_freshness_months") }} months before the role'
        end
    from latest
    where
        signed_date > role_start_date
        or signed_date < role_start_date - interval '{{ var('disclosure_freshness_months') }} month'
    union all
    select distinct
        disclosure_id,
        'MITIGATION_MISSING',
        start_of_role,
        'relevant relationship with an ineligible company not mitigated'
    from relationships
    where
        coalesce(is_relevant, false) and coalesce(company_is_ineligible, false)
        and (relationship_ended_on is null or relationship_ended_on > start_of_role - interval '24 month')
        and mitigation_step is null
    union all
    select distinct
        disclosure_id,
        'MITIGATION_LATE',
        start_of_role,
        'mitigated after the role started'
    from relationships
    where mitigated_date > start_of_role
    union all
    select distinct
        disclosure_id,
        'OWNER_EMPLOYEE_IN_CONTENT_ROLE',
        start_of_role,
        'owner or employee of an ineligible company'
    from relationships
    where nature in ('owner', 'employee') and coalesce(company_is_ineligible, false)
    union all
    select
        latest.disclosure_id,
        'LEARNER_DISCLOSURE_LATE',
        activities.start_date,
        case
            when latest.learner_disclosure_date is null then 'not yet disclosed to learners'
            else 'disclosed to learners after the activity started'
        end
    from latest
    inner join activities using (activity_id)
    where latest.learner_disclosure_date is null or latest.learner_disclosure_date > activities.start_date
    union all
    select
        latest.disclosure_id,
        case
            when documents.stored_sha256 is null then 'DISCLOSURE_DOCUMENT_MISSING'
            else 'DISCLOSURE_DOCUMENT_ALTERED'
        end,
        latest.role_start_date,
        case
            when documents.stored_sha256 is null then 'signed form not in the document store'
            else 'signed form in the document store does not match its recorded hash'
        end
    from latest
    left join documents using (disclosure_id)
    where
        latest.signed_date is not null
        and (
            documents.stored_sha256 is null
            or documents.stored_sha256 is distinct from lower(latest.document_sha256)
        )
),

final as (
    select
        latest.faculty_person_id,
        latest.activity_id,
        latest.role,
        latest.disclosure_id,
        problems.reason_code,
        problems.due_on,
        problems.detail
    from problems
    inner join latest using (disclosure_id)
)

select * from final
