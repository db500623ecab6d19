with source as (select * from {{ source('landing', 'lms_completions') }}),

final as (
    select
        completion_id,
        learner_id,
        activity_id,
        completed_at,
        minutes_engaged,
        post_test_score,
        evaluation_completed,
        cast(credits_claimed as decimal(9, 4)) as credits_claimed,
        moc_requested,
        status,
        _extract_date as extracted_on,
        _file as file_name,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final
