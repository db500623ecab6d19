{# Every completion, LMS and live, with its person and local date.
   An LMS completion's status is its latest row (a later `revoked` withdraws it);
   its attributes come from its latest `completed` row.
   The same person completing the same activity on the same day through two
   accounts earns once: the account that completed first is primary.
   source_rows names the landed rows a completion was made of (file, extract date,
   line, load id): the LMS row it was completed in, and the later row that set its
   status if another; a live completion's attendance rows. The audit trail reads it. #}
with lms_rows as (
    select *
    from {{ ref('stg_landing__lms_completions') }}
),

lms_status as (
    select
        completion_id,
        status,
        extracted_on as status_extracted_on,
        {{ record_of({'file_name': 'file_name', 'extracted_on': 'extracted_on', 'source_line': 'source_line',
                      'load_id': 'load_id'}) }} as status_source_row
    from ({{ first_row_per('lms_rows', ['completion_id'], 'extracted_on desc, source_line desc') }}) as latest
),

lms_completed as (
    {{ first_row_per('lms_rows', ['completion_id'], 'extracted_on desc, source_line desc',
                     where="status = 'completed'") }}
),

live as (select * from {{ ref('int_live_completions_aggregated') }}),
accounts as (select * from {{ ref('int_accounts_linked') }}),
activities as (select activity_id from {{ ref('int_activities_deduplicated') }}),

lms as (
    select
        'LMS:' || lms_completed.completion_id as completion_key,
        'lms' as completion_source,
        lms_completed.completion_id,
        lms_completed.learner_id,
        lms_completed.activity_id,
        lms_completed.completed_at,
        {{ local_date('lms_completed.completed_at') }} as completed_on,
        lms_completed.minutes_engaged,
        lms_completed.credits_claimed,
        lms_completed.post_test_score,
        coalesce(lms_completed.evaluation_completed, false) as evaluation_completed,
        coalesce(lms_completed.moc_requested, false) as moc_requested,
        lms_status.status = 'revoked' as is_revoked,
        greatest(lms_completed.extracted_on, lms_status.status_extracted_on) as extracted_on,
        {{ record_list_concat(
            record_list([record_of({'file_name': 'lms_completed.file_name', 'extracted_on': 'lms_completed.extracted_on',
                                    'source_line': 'lms_completed.source_line', 'load_id': 'lms_completed.load_id'})]),
            "case when lms_status.status = 'completed' then " ~ record_list([]) ~ " else "
                ~ record_list(['lms_status.status_source_row']) ~ " end") }}
            as source_rows
    from lms_completed
    inner join lms_status using (completion_id)
),

all_completions as (
    select * from lms
    union all
    select
        completion_key,
        'live' as completion_source,
        null as completion_id,
        learner_id,
        activity_id,
        completed_at,
        completed_on,
        minutes_attended as minutes_engaged,
        null as credits_claimed,
        null as post_test_score,
        evaluation_completed,
        moc_requested,
        false as is_revoked,
        extracted_on,
        source_rows
    from live
),

matched as (
    select
        all_completions.*,
        accounts.person_id,
        accounts.person_id is not null and activities.activity_id is not null as is_matched
    from all_completions
    left join accounts using (learner_id)
    left join activities using (activity_id)
),

primary_accounts as (
    select
        person_id,
        activity_id,
        completed_on,
        {{ arg_min('learner_id', ['completed_at', 'learner_id']) }} as primary_learner_id
    from matched
    where is_matched and not is_revoked
    group by person_id, activity_id, completed_on
),

final as (
    select
        matched.*,
        primary_accounts.primary_learner_id is not null
        and matched.learner_id <> primary_accounts.primary_learner_id as is_duplicate_account
    from matched
    left join primary_accounts using (person_id, activity_id, completed_on)
)

select * from final
