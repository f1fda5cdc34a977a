from django.db import migrations

# Group commit of acceptances (docs/order-path.md, "Acceptance in groups"): the orders one web
# process accepts together, in one statement and one transaction. Each order goes through
# orders_order_accept (migration 0007, the only owner of its rules) in a block of its own (a
# subtransaction): a refusal (check_violation: config changed, market closed, max_num_orders,
# insufficient_funds; unique_violation: a client id already open) rolls back that order alone
# and is returned as its `refusal` (the error's message, which orders.services maps exactly as
# it maps the single statement's error). Any other error (a deadlock, a lost connection) aborts
# the statement and with it every order of the group.
#
# The caller sorts the group by (user, hold asset) so that accounts are locked in the global
# order, and keeps it under 64 orders (PostgreSQL caches 64 subtransactions per backend).
SQL = """
CREATE FUNCTION orders_order_accept_group(
    p_user bigint[], p_market bigint[], p_version bigint[], p_max_open integer[],
    p_client_order_id varchar[], p_side varchar[], p_type varchar[], p_tif varchar[],
    p_price numeric[], p_stop_price numeric[], p_quantity numeric[],
    p_quote_order_qty numeric[], p_stp_mode varchar[], p_hold_asset bigint[],
    p_hold_amount numeric[]
) RETURNS TABLE (order_id bigint, created_at timestamptz, refusal text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR k IN 1 .. coalesce(array_length(p_user, 1), 0) LOOP
        order_id := NULL;
        created_at := NULL;
        refusal := NULL;
        BEGIN
            SELECT a.order_id, a.created_at INTO order_id, created_at
                FROM orders_order_accept(
                    p_user[k], p_market[k], p_version[k], p_max_open[k], p_client_order_id[k],
                    p_side[k], p_type[k], p_tif[k], p_price[k], p_stop_price[k], p_quantity[k],
                    p_quote_order_qty[k], p_stp_mode[k], p_hold_asset[k], p_hold_amount[k]
                ) a;
        EXCEPTION WHEN check_violation OR unique_violation THEN
            refusal := SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
"""

REVERSE = """
DROP FUNCTION orders_order_accept_group(
    bigint[], bigint[], bigint[], integer[], varchar[], varchar[], varchar[], varchar[],
    numeric[], numeric[], numeric[], numeric[], varchar[], bigint[], numeric[]);
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0007_order_accept_function")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
