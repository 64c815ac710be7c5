{#-
    The one normalisation rule per identifier type, as a SQL expression: the value an
    identifier takes in the identity graph, or null when it is not a valid one.

        email   macros/identity/normalise_email.sql
        phone   macros/identity/normalise_phone.sql (E.164), with the calling code and trunk
                prefix of the number's country (seeds/identity/country_calling_codes.csv,
                looked up with identity_phone_country)
        other   trimmed; empty text is null

    Used by int_identifiers_normalised (every identifier of every record), by the warehouse
    function <intermediate>.normalise_identifier(identifier_type, raw_value, country) that
    on-run-end creates from it (create_normalise_identifier_function: what `cdp explain`
    asks to normalise what a user typed), and by the generic test is_normalised_identifier.
    Changing a rule here changes all three; its cases are in tests/normalise_cases.py.
    `phone_digits_expr`: cdp.phone_digits(value_expr) computed by the caller (optional).
-#}
{% macro normalise_identifier(type_expr, value_expr, calling_code_expr, trunk_prefix_expr, phone_digits_expr=none) -%}
    case {{ type_expr }}
        when 'email' then {{ cdp.normalise_email(value_expr) }}
        when 'phone' then {{ cdp.normalise_phone(value_expr, calling_code_expr, trunk_prefix_expr, phone_digits_expr) }}
        else nullif(trim({{ value_expr }}), '')
    end
{%- endmacro %}
