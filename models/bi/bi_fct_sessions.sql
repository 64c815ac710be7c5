{{ cdp.masked_mart() }}
