{#-
    Connected components of the identity graph: each node with the component it belongs
    to (the smallest node_id in it). See macros/identity/connected_components.sql.
-#}
{{ config(post_hook="{{ cdp.connected_components_cleanup() }}") }}

with

components as (
    {{ cdp.connected_components(ref('int_identity_nodes_numbered'), ref('int_identity_edges_built')) }}
)

select * from components
