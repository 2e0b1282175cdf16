//! The `#[scalar]` attribute of `quiver-sdk`: turns a typed Rust function into
//! a vectorised function over Arrow columns.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{Expr, FnArg, ItemFn, Lit, Meta, Pat, ReturnType, parse_macro_input};

/// Turns `fn gcd(a: i32, b: i32) -> i32` into a vectorised column function.
///
/// The function stays as written; the attribute adds `fn gcd_scalar() ->
/// quiver_sdk::ScalarFunction`, which runs it over whole columns. A null in a
/// parameter of a plain type gives a null result without calling the
/// function; take `Option<T>` to see nulls. Return `T`, `Option<T>` (None is
/// null) or `Result<T, E>` (an error refuses the row, with the error as the
/// reason).
#[proc_macro_attribute]
pub fn scalar(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(proc_macro2::Span::call_site(), "#[scalar] takes no arguments")
            .to_compile_error()
            .into();
    }
    let function = parse_macro_input!(item as ItemFn);
    match expand(&function) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(function: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let name = &function.sig.ident;
    let name_str = name.to_string();
    let scalar_fn = format_ident!("{}_scalar", name);
    let vis = &function.vis;
    let ret = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.as_ref().clone(),
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(&function.sig, "a #[scalar] function must return a value"));
        }
    };
    let mut arg_names = Vec::new();
    let mut arg_types = Vec::new();
    for input in &function.sig.inputs {
        let FnArg::Typed(typed) = input else {
            return Err(syn::Error::new_spanned(input, "a #[scalar] function cannot take self"));
        };
        let Pat::Ident(ident) = typed.pat.as_ref() else {
            return Err(syn::Error::new_spanned(&typed.pat, "name each #[scalar] parameter with a plain identifier"));
        };
        arg_names.push(ident.ident.to_string());
        arg_types.push(typed.ty.as_ref().clone());
    }
    if arg_names.is_empty() {
        return Err(syn::Error::new_spanned(&function.sig, "a #[scalar] function takes at least one column"));
    }
    let description = doc_line(function);
    let arity = arg_names.len();
    let indices: Vec<usize> = (0..arity).collect();
    let columns: Vec<_> = (0..arity).map(|i| format_ident!("__column{}", i)).collect();

    Ok(quote! {
        #function

        #[doc = concat!("The vectorised form of [`", #name_str, "`], for `Plugin::scalar`.")]
        #vis fn #scalar_fn() -> ::quiver_sdk::ScalarFunction {
            fn invoke(
                args: &[::quiver_sdk::arrow_array::ArrayRef],
            ) -> ::core::result::Result<::quiver_sdk::ScalarColumn, ::quiver_sdk::Error> {
                use ::quiver_sdk::arrow_array::Array as _;
                use ::quiver_sdk::scalar::{ScalarArg as _, ScalarBuilder as _, ScalarResult as _};
                if args.len() != #arity {
                    return Err(::quiver_sdk::Error::invalid_call(format!(
                        "`{}` takes {} columns, got {}", #name_str, #arity, args.len()
                    )));
                }
                let rows = args[0].len();
                #( let #columns = ::quiver_sdk::scalar::downcast_arg::<#arg_types>(&args[#indices], #arg_names)?; )*
                let nulls = ::quiver_sdk::scalar::combined_nulls(&[
                    #( (&args[#indices], <#arg_types as ::quiver_sdk::scalar::ScalarArg>::NULL_IN_NULL_OUT), )*
                ]);
                let mut out = <<<#ret as ::quiver_sdk::scalar::ScalarResult>::Value as ::quiver_sdk::scalar::ScalarReturn>::Builder
                    as ::quiver_sdk::scalar::ScalarBuilder<_>>::with_capacity(rows);
                let mut rejections = ::std::vec::Vec::new();
                for row in 0..rows {
                    if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                        out.push_null();
                        continue;
                    }
                    let result: #ret = #name(#( <#arg_types as ::quiver_sdk::scalar::ScalarArg>::value(#columns, row) ),*);
                    match result.into_result() {
                        Ok(Some(value)) => out.push(value),
                        Ok(None) => out.push_null(),
                        Err(reason) => {
                            rejections.push(::quiver_sdk::Rejection::new(row, reason));
                            out.push_null();
                        }
                    }
                }
                Ok(::quiver_sdk::ScalarColumn { values: out.finish_column(), rejections })
            }
            ::quiver_sdk::ScalarFunction {
                name: #name_str,
                description: #description,
                arg_names: &[#(#arg_names),*],
                arg_types: || vec![#( <#arg_types as ::quiver_sdk::scalar::ScalarArg>::data_type() ),*],
                return_type: || <<#ret as ::quiver_sdk::scalar::ScalarResult>::Value as ::quiver_sdk::scalar::ScalarReturn>::data_type(),
                invoke,
            }
        }
    })
}

/// The first line of the function's doc comment.
fn doc_line(function: &ItemFn) -> String {
    function
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .find_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(s) => Some(s.value().trim().to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_default()
}
