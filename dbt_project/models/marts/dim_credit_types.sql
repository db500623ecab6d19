{# The credit-type catalog as the run applies it (the credit_types seed with
   settings: ABP's point step is abp_point_step), for readers outside dbt:
   transcripts, certificates and the portal name a credit by its report_label. #}
with configured as (select * from {{ ref('int_credit_types_configured') }}),

final as (
    select
        credit_type,
        body,
        eligible_professions,
        unit,
        step,
        moc_board,
        moc_category,
        board_split_rank,
        report_label,
        is_moc,
        explain_when_undesignated,
        description
    from configured
)

select * from final
