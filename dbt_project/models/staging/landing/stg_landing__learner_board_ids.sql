with source as (select * from {{ source('landing', 'learner_board_ids') }}),

final as (
    select
        learner_id,
        board,
        board_id,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final
