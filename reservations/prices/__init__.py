"""Prices: ticket types, seat type prices, price cards and vouchers (issue 25).

The price rule is one SQL function (ticket_price, sql/code/02_seat_reads.sql) that every price
shown or charged comes from; vouchers are redeemed in the booking's one call (book_held_seats,
sql/code/03_seat_changes.sql) under the database's limit. This package manages what they read;
its routes are set up by `routes.setup` (this module imports nothing, so that booking's errors
can import prices.errors without a cycle).
"""
