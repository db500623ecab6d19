{# The landed file lines behind what the marts report, for the audit trail: a
   completion's rows (the LMS row it was completed in and the later row that set
   its status, or a live completion's attendance rows) and an activity's rows
   (activities.csv, activity_credits.csv, commercial_support.csv, the versions
   the marts used). One row per completion or activity and landed line. #}
with completions as (select * from {{ ref('int_completions_unioned') }}),
activities as (select * from {{ ref('int_activities_deduplicated') }}),
activity_credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),
commercial_supports as (select * from {{ ref('int_commercial_supports_deduplicated') }}),

completion_rows as (
    {{ unnest_record_list('completions', ['completion_key', 'completion_source', 'activity_id'], 'source_rows',
                          {'file_name': 'varchar', 'extracted_on': 'date', 'source_line': 'bigint',
                           'load_id': 'varchar'}) }}
),

final as (
    select
        completion_key,
        completion_source,
        activity_id,
        file_name,
        extracted_on,
        source_line,
        load_id
    from completion_rows
    union all
    select
        cast(null as varchar),
        'activity ' || activity_id,
        activity_id,
        'activities.csv',
        extracted_on,
        cast(source_line as bigint),
        load_id
    from activities
    union all
    select
        cast(null as varchar),
        'activity ' || activity_id,
        activity_id,
        'activity_credits.csv',
        extracted_on,
        cast(source_line as bigint),
        load_id
    from activity_credits
    union all
    select
        cast(null as varchar),
        'activity ' || activity_id,
        activity_id,
        'commercial_support.csv',
        extracted_on,
        cast(source_line as bigint),
        load_id
    from commercial_supports
)

select * from final
