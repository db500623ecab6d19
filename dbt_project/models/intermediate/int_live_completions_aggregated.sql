{# A live completion is one (learner, activity, local day of check-in). Its minutes
   are the union of that day's check-in intervals: overlapping sessions count once.
   source_rows lists the attendance rows it was made of (landing file, extract date,
   line, load id), for the audit trail (`cme audit`). #}
with attendance as (
    {{ first_row_per(ref('stg_landing__attendances'), ['attendance_id'], 'extracted_on desc, source_line desc') }}
),

intervals as (
    select
        *,
        {{ local_date('check_in_at') }} as completed_on,
        max(check_out_at) over (
            partition by learner_id, activity_id, {{ local_date('check_in_at') }}
            order by check_in_at, check_out_at
            rows between unbounded preceding and 1 preceding
        ) as previous_max_end
    from attendance
),

islands as (
    select
        *,
        sum(case when previous_max_end is null or check_in_at > previous_max_end then 1 else 0 end)
            over (
                partition by learner_id, activity_id, completed_on
                order by check_in_at, check_out_at rows unbounded preceding
            ) as island
    from intervals
),

island_minutes as (
    select
        learner_id,
        activity_id,
        completed_on,
        island,
        {{ seconds_between('min(check_in_at)', 'max(check_out_at)') }} / 60.0 as minutes
    from islands
    group by learner_id, activity_id, completed_on, island
),

days as (
    select
        learner_id,
        activity_id,
        completed_on,
        min(check_in_at) as completed_at,
        bool_or(coalesce(evaluation_completed, false)) as evaluation_completed,
        bool_or(coalesce(moc_requested, false)) as moc_requested,
        max(extracted_on) as extracted_on,
        count(*) as check_ins,
        {{ record_list_agg(record_of({'file_name': 'file_name', 'extracted_on': 'extracted_on',
                                      'source_line': 'source_line', 'load_id': 'load_id'}),
                           'check_in_at, attendance_id') }} as source_rows
    from islands
    group by learner_id, activity_id, completed_on
),

final as (
    select
        'LIVE:' || days.learner_id || ':' || days.activity_id || ':' || days.completed_on
            as completion_key,
        days.learner_id,
        days.activity_id,
        days.completed_on,
        days.completed_at,
        cast(sum(island_minutes.minutes) as decimal(9, 2)) as minutes_attended,
        days.evaluation_completed,
        days.moc_requested,
        days.check_ins,
        days.extracted_on,
        days.source_rows
    from days
    inner join island_minutes using (learner_id, activity_id, completed_on)
    group by
        days.learner_id, days.activity_id, days.completed_on, days.completed_at,
        days.evaluation_completed, days.moc_requested, days.check_ins, days.extracted_on, days.source_rows
)

select * from final
