{#- Components of the rechecked nodes (second pass after the limit rule). -#}
{{ config(post_hook="{{ cdp.connected_components_cleanup() }}") }}

with

components as (
    {{ cdp.connected_components(ref('int_identity_nodes_rechecked'), ref('int_identity_edges_rechecked')) }}
)

select * from components
