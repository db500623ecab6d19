{# One row per person (a group of learner accounts that share a strong key). #}
with people as (select * from {{ ref('int_people_resolved') }}),
identifiers as (select * from {{ ref('int_person_identifiers_collected') }}),
profession_licenses as (select * from {{ ref('profession_licenses') }}),

{# People whose CE Broker credit must go out as CE Broker records: a license in a
   CE Broker state (setting) for their profession (seed), as fct_cebroker_records joins. #}
cebroker_licensees as (
    select distinct identifiers.person_id
    from identifiers
    inner join people on people.person_id = identifiers.person_id
    inner join profession_licenses
        on profession_licenses.profession = people.profession
        and profession_licenses.license_profession = identifiers.license_profession
    where identifiers.identifier_kind = 'license'
      and identifiers.state in ({% for s in var('cebroker_states') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

final as (
    select
        person_id,
        account_count,
        learner_ids,
        first_name,
        last_name,
        birth_month_day,
        profession,
        npi,
        invalid_npi,
        nabp_eprofile_id,
        moc_consent,
        has_identity_conflict,
        nullif(identity_conflict_reason, '') as identity_conflict_reason,
        updated_at,
        person_id in (select person_id from cebroker_licensees) as holds_cebroker_license
    from people
)

select * from final
