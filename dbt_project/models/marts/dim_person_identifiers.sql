{# The identifiers bodies ask for, per person, gathered across the person's
   accounts: licenses (with the one PARS takes flagged) and board ids. For the
   transcripts and the bodies' files. #}
with identifiers as (select * from {{ ref('int_person_identifiers_collected') }}),

final as (
    select
        person_id,
        identifier_kind,
        state,
        license_number,
        license_profession,
        expires_on,
        board,
        board_id,
        is_pars_license
    from identifiers
)

select * from final
