{# The catalog rows the decisions and the PARS mart rely on: a MOC type (moc_board set)
   has a category and a split rank and is reported through PARS (fct_pars_records takes
   every MOC award); other types have neither; every designation statement prints the
   amount. One row per broken credit type, with what is wrong. #}
with catalog as (select * from {{ ref('credit_types') }}),

problems as (
    select
        credit_type,
        unnest({{ list_of([
            "case when moc_board is not null and (moc_category is null or board_split_rank is null)
                 then 'MOC type without moc_category or board_split_rank' end,
            case when moc_board is not null and body <> 'ACCME_PARS'
                 then 'MOC type not reported through PARS (body must be ACCME_PARS)' end,
            case when moc_board is null and (moc_category is not null or board_split_rank is not null)
                 then 'moc_category or board_split_rank without moc_board' end,
            case when designation_statement not like '%{amount}%'
                 then 'designation_statement does not print {amount}' end"
        ]) }}) as problem
    from catalog
),

final as (
    select * from problems
    where problem is not null
)

select * from final
