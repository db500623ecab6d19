with source as (select * from {{ source('landing', 'attendance') }}),

final as (
    select
        attendance_id,
        learner_id,
        activity_id,
        session_id,
        check_in_at,
        check_out_at,
        evaluation_completed,
        moc_requested,
        _extract_date as extracted_on,
        _file as file_name,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final
