{# Every completion, LMS and live, whether or not it matched a person and an
   activity: one row per completion, with its person, local date and status.
   Credit decisions (fct_credit_decisions) exist for the matched ones only;
   the run summary counts the unmatched here, retention dates every one. #}
with completions as (select * from {{ ref('int_completions_unioned') }}),

final as (
    select
        completion_key,
        completion_source,
        completion_id,
        learner_id,
        person_id,
        activity_id,
        completed_at,
        completed_on,
        is_matched,
        is_revoked,
        is_duplicate_account,
        extracted_on
    from completions
)

select * from final
