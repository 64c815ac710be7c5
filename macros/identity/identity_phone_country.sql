{#-
    The country whose calling code a phone written without one gets: the record's own
    country, else `identity_phone_default_country`, upper case, as the key of
    seeds/identity/country_calling_codes.csv. One definition for the join in
    int_identifiers_normalised and the lookup in the normalise_identifier function.
-#}
{% macro identity_phone_country(country_expr) -%}
    upper(coalesce({{ country_expr }}, '{{ var("identity_phone_default_country", "US") }}'))
{%- endmacro %}
