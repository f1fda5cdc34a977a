from django.db import migrations, models

# One-round-trip acceptance (docs/order-path.md, "Acceptance"): orders.services validates the
# order against its per-process copy of the market, then calls orders_order_accept, which in
# one statement
#   - refuses when the market's configuration changed since that copy was read
#     (market_config_changed: the caller reloads the market and validates again),
#   - refuses when the market is not TRADING (market_closed, also the insert trigger's check),
#   - counts the user's open orders in the market against the limit (max_num_orders),
#   - inserts the order PENDING_NEW (a client id already open: order_client_id_unique_open),
#   - locks its hold through clearing_order_hold_place (insufficient_funds).
# Any refusal raises, so the statement writes nothing. orders.services maps each to its
# Binance code.
#
# config_version: bumped by a trigger whenever a market row changes (an operator's edit, a
# state change, a fee change applied by the matcher), so a cached copy is checked in the same
# statement that relies on it.
SQL = """
CREATE FUNCTION orders_market_config_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.config_version := OLD.config_version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER orders_market_config_bump BEFORE UPDATE ON orders_market
    FOR EACH ROW EXECUTE FUNCTION orders_market_config_bump();

CREATE FUNCTION orders_order_accept(
    p_user bigint, p_market bigint, p_version bigint, p_max_open integer,
    p_client_order_id varchar, p_side varchar, p_type varchar, p_tif varchar,
    p_price numeric, p_stop_price numeric, p_quantity numeric, p_quote_order_qty numeric,
    p_stp_mode varchar, p_hold_asset bigint, p_hold_amount numeric
) RETURNS TABLE (order_id bigint, created_at timestamptz) LANGUAGE plpgsql AS $$
DECLARE
    v_status varchar;
    v_version bigint;
    v_open integer;
    v_now timestamptz := clock_timestamp();
BEGIN
    SELECT m.status, m.config_version INTO v_status, v_version FROM orders_market m
        WHERE m.id = p_market FOR KEY SHARE;
    IF v_version IS DISTINCT FROM p_version THEN
        RAISE EXCEPTION 'market_config_changed: market % is at %', p_market, v_version
            USING ERRCODE = 'check_violation';
    END IF;
    IF v_status <> 'TRADING' THEN
        RAISE EXCEPTION 'market_closed: market % is %', p_market, v_status
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO v_open FROM orders_order o
        WHERE o.user_id = p_user AND o.market_id = p_market
        AND o.status IN ('PENDING_NEW', 'NEW', 'PARTIALLY_FILLED');
    IF v_open >= p_max_open THEN
        RAISE EXCEPTION 'max_num_orders: user % has % open', p_user, v_open
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO orders_order (
        user_id, market_id, client_order_id, side, type, time_in_force, price, stop_price,
        quantity, quote_order_qty, stp_mode, status, executed_qty, cumulative_quote_qty,
        is_working, reject_reason, created_at, updated_at
    ) VALUES (
        p_user, p_market, p_client_order_id, p_side, p_type, p_tif, p_price, p_stop_price,
        p_quantity, p_quote_order_qty, p_stp_mode, 'PENDING_NEW', 0, 0,
        false, '', v_now, v_now
    ) RETURNING id INTO order_id;
    PERFORM clearing_order_hold_place(order_id, p_user, p_hold_asset, p_hold_amount, v_now);
    created_at := v_now;
    RETURN NEXT;
END $$;
"""

REVERSE = """
DROP FUNCTION orders_order_accept(
    bigint, bigint, bigint, integer, varchar, varchar, varchar, varchar, numeric, numeric,
    numeric, numeric, varchar, bigint, numeric);
DROP TRIGGER orders_market_config_bump ON orders_market;
DROP FUNCTION orders_market_config_bump();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0006_order_done_seq_fewer_indexes"),
        ("clearing", "0004_order_hold_place_function"),
    ]

    operations = [
        migrations.AddField(
            model_name="market",
            name="config_version",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
