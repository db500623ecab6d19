with source as (select * from {{ source('landing', 'faculty_disclosures') }}),

final as (
    select
        disclosure_id,
        relationship_seq,
        person_id as faculty_person_id,
        first_name,
        last_name,
        activity_id,
        role,
        role_start_date,
        signed_date,
        has_relationships,
        company,
        company_is_ineligible,
        nature,
        relationship_ended_on,
        is_relevant,
        mitigation_step,
        mitigated_date,
        learner_disclosure_date,
        document_sha256,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final
