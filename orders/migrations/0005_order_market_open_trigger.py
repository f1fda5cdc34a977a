from django.db import migrations

# The kill switch's cut, exact at the API: an order row can only be inserted while its market is
# TRADING, read with a lock (FOR KEY SHARE) that a state change (SELECT ... FOR UPDATE in
# orders.markets) waits for. So no order validated before a halt can commit after it: an
# acceptance either commits before the state change does, or sees the new state and is refused
# (orders.services maps the error to -2010 "Market is closed."). The foreign key check takes
# the same lock on every insert already, so this costs no extra round trip.
SQL = """
CREATE FUNCTION orders_order_market_open() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    market_status varchar;
BEGIN
    SELECT status INTO market_status FROM orders_market WHERE id = NEW.market_id FOR KEY SHARE;
    IF market_status IS DISTINCT FROM 'TRADING' THEN
        RAISE EXCEPTION 'market_closed: market % is %', NEW.market_id, market_status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER orders_order_market_open BEFORE INSERT ON orders_order
    FOR EACH ROW EXECUTE FUNCTION orders_order_market_open();
"""

REVERSE = """
DROP TRIGGER orders_order_market_open ON orders_order;
DROP FUNCTION orders_order_market_open();
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_backoffice")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
