{# The catalog seed with settings applied: ABP's point step is the abp_point_step setting. #}
with catalog as (select * from {{ ref('credit_types') }}),

final as (
    select
        credit_type,
        body,
        eligible_professions,
        unit,
        case
            when moc_board = 'ABP' then cast({{ var('abp_point_step') }} as decimal(9, 2))
            else step
        end as step,
        moc_board,
        moc_category,
        board_split_rank,
        report_label,
        moc_board is not null as is_moc,
        explain_when_undesignated,
        description
    from catalog
)

select * from final
