// Apache Iceberg's own REST catalog (the RESTCatalogAdapter and
// RESTCatalogServlet of iceberg-core's test jar, the server behind Iceberg's
// REST test fixture) over a JDBC catalog on a SQLite file, served on
// loopback only. Iceberg's RESTCatalogServer binds every interface and
// checks no credentials, so the tests start this instead: the same catalog,
// bound to 127.0.0.1, and with a bearer token required when QUIVER_REST_TOKEN
// is set, so that refused credentials can be tested.
//
// Run as a source file: java -cp 'LIBS/*' RestCatalog.java WAREHOUSE PORT
// (tests/iceberg/mod.rs does).

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.servlet.FilterHolder;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

public class RestCatalog {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: RestCatalog WAREHOUSE PORT");
      System.exit(2);
    }
    Path warehouse = Path.of(args[0]).toAbsolutePath();
    Files.createDirectories(warehouse);
    Map<String, String> properties = new HashMap<>();
    properties.put(CatalogProperties.CATALOG_IMPL, JdbcCatalog.class.getName());
    properties.put(CatalogProperties.URI, "jdbc:sqlite:" + warehouse.resolve("catalog.sqlite"));
    properties.put("jdbc.schema-version", "V1");
    properties.put(CatalogProperties.WAREHOUSE_LOCATION, "file:" + warehouse);
    Catalog catalog = CatalogUtil.buildIcebergCatalog("rest_backend", properties, new Configuration());

    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTCatalogAdapter(catalog))), "/*");
    String token = System.getenv("QUIVER_REST_TOKEN");
    if (token != null && !token.isEmpty()) {
      context.addFilter(new FilterHolder(bearer(token)), "/*", EnumSet.of(DispatcherType.REQUEST));
    }

    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(Integer.parseInt(args[1]));
    server.addConnector(connector);
    server.setHandler(context);
    server.start();
    System.err.println("iceberg REST catalog on 127.0.0.1:" + connector.getLocalPort() + ", warehouse " + warehouse);
    server.join();
  }

  /** Refuses, as an Iceberg REST error, every request without the token. */
  static Filter bearer(String token) {
    return (request, response, chain) -> {
      String got = ((HttpServletRequest) request).getHeader("Authorization");
      if (("Bearer " + token).equals(got)) {
        chain.doFilter(request, response);
        return;
      }
      HttpServletResponse http = (HttpServletResponse) response;
      http.setStatus(401);
      http.setContentType("application/json");
      http.getOutputStream()
          .write(
              ("{\"error\":{\"message\":\"Not authorized: the bearer token is missing or wrong\","
                      + "\"type\":\"NotAuthorizedException\",\"code\":401}}")
                  .getBytes(StandardCharsets.UTF_8));
    };
  }
}
