{#-
    An email address as one mailbox: trimmed, lower case, and, when
    `identity_email_provider_rules` is true (the default), with provider rules applied:
    the plus tag dropped ('ann+news@x.com' -> 'ann@x.com') and, for the domains in
    `identity_email_dotless_domains` (Gmail), the dots of the local part dropped and
    googlemail.com written gmail.com. Returns null for text that is not an address.
-#}
{% macro normalise_email(expression) -%}
    {%- set trimmed = "lower(trim(" ~ expression ~ "))" -%}
    {%- set local = "split_part(" ~ trimmed ~ ", '@', 1)" -%}
    {%- set raw_domain = "split_part(" ~ trimmed ~ ", '@', 2)" -%}
    {%- if var('identity_email_provider_rules', true) -%}
        {%- set domain = "case when " ~ raw_domain ~ " = 'googlemail.com' then 'gmail.com' else " ~ raw_domain ~ " end" -%}
        {%- set untagged = "split_part(" ~ local ~ ", '+', 1)" -%}
        {%- set dotless = var('identity_email_dotless_domains', ['gmail.com', 'googlemail.com']) -%}
        {%- set mailbox = "case when " ~ raw_domain ~ " in ('" ~ dotless | join("', '") ~ "') then replace(" ~ untagged ~ ", '.', '') else " ~ untagged ~ " end" -%}
    {%- else -%}
        {%- set domain = raw_domain -%}
        {%- set mailbox = local -%}
    {%- endif -%}
    case
        when {{ cdp.regex_matches(trimmed, "'^[^@[:space:]]+@[^@[:space:]]+[.][a-z]{2,}$'") }}
            and {{ mailbox }} <> ''
            then concat({{ mailbox }}, '@', {{ domain }})
    end
{%- endmacro %}
