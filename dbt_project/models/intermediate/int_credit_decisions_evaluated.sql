{# Qualification and credit awarded (rules section 4), one row per completion x
   candidate credit type. Candidates are the types the activity designates plus
   the non-MOC types the person's profession could earn, so "why no nursing
   credit?" gets NOT_DESIGNATED rather than silence. The first failing check is
   the decision's reason; no reason means awarded. #}
{{ evaluate_credit_decisions(ref('int_completions_unioned')) }}
