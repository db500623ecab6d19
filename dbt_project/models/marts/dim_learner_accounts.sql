{# Each learner account (LMS or registration learner id), the person it belongs
   to today and the account's e-mail address as the portal matches it (trimmed,
   lower case). #}
with accounts as (select * from {{ ref('int_accounts_linked') }}),
learners as (select * from {{ ref('int_learners_deduplicated') }}),

final as (
    select
        accounts.learner_id,
        accounts.person_id,
        nullif(lower(trim(learners.email)), '') as email
    from accounts
    left join learners using (learner_id)
)

select * from final
