from django.db import migrations

# clearing.holds.order_hold_place in one SQL call, for the order path's one-round-trip
# acceptance (orders_order_accept, orders migration 0007): the same rows ledger_post and the
# Hold model write. The user's AVAILABLE then LOCKED account of the asset are locked in the
# global order (user, asset, kind); a missing LOCKED account is created; a short (or missing)
# AVAILABLE balance raises insufficient_funds and writes nothing.
SQL = """
CREATE FUNCTION clearing_order_hold_place(
    p_order bigint, p_user bigint, p_asset bigint, p_amount numeric, p_now timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_available bigint;
    v_balance numeric;
    v_locked bigint;
    v_tx bigint;
BEGIN
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'invalid_hold: % for order %', p_amount, p_order
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT id, balance INTO v_available, v_balance FROM clearing_ledgeraccount
        WHERE user_id = p_user AND asset_id = p_asset AND kind = 'AVAILABLE' FOR UPDATE;
    IF v_available IS NULL OR v_balance < p_amount THEN
        RAISE EXCEPTION 'insufficient_funds: user % asset %', p_user, p_asset
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT id INTO v_locked FROM clearing_ledgeraccount
        WHERE user_id = p_user AND asset_id = p_asset AND kind = 'LOCKED' FOR UPDATE;
    IF v_locked IS NULL THEN
        INSERT INTO clearing_ledgeraccount (user_id, asset_id, kind, balance)
            VALUES (p_user, p_asset, 'LOCKED', 0)
            ON CONFLICT ON CONSTRAINT account_unique DO NOTHING;
        SELECT id INTO v_locked FROM clearing_ledgeraccount
            WHERE user_id = p_user AND asset_id = p_asset AND kind = 'LOCKED' FOR UPDATE;
    END IF;
    INSERT INTO clearing_ledgertransaction (key, kind, memo, created_at)
        VALUES ('order:' || p_order || ':hold', 'order_hold', '', p_now) RETURNING id INTO v_tx;
    INSERT INTO clearing_posting (transaction_id, account_id, asset_id, amount)
        VALUES (v_tx, v_available, p_asset, -p_amount), (v_tx, v_locked, p_asset, p_amount);
    UPDATE clearing_ledgeraccount
        SET balance = balance + CASE WHEN id = v_available THEN -p_amount ELSE p_amount END
        WHERE id IN (v_available, v_locked);
    INSERT INTO clearing_hold
        (key, user_id, asset_id, order_id, amount, original_amount, created_at, released_at)
        VALUES ('order:' || p_order, p_user, p_asset, p_order, p_amount, p_amount, p_now, NULL);
END $$;
"""

REVERSE = "DROP FUNCTION clearing_order_hold_place(bigint, bigint, bigint, numeric, timestamptz);"


class Migration(migrations.Migration):
    dependencies = [("clearing", "0003_settlementcursor")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
